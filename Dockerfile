# Stock forecast service: the FastAPI app on onnxruntime, serving the committed artifacts/.
#
#   docker build -t stock-forecast .                          # default: onnx backend, no TensorFlow
#   docker build --build-arg BACKEND=keras -t stock-forecast:keras .   # adds TensorFlow (+1.45 GB)
#   docker run --rm -p 8000:8000 stock-forecast
#
# Works with the legacy builder (no BuildKit features: no RUN --mount, no heredocs, no COPY --chmod).
# See docs/deployment.md for the environment variables, mounting other artifacts and Kubernetes.

# ---------------------------------------------------------------------------------------------------
# build: a virtual environment in /opt/venv holding the service and its runtime dependencies only.
# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS build

# onnx (default) installs requirements/serve.lock ([project.dependencies] only); keras installs
# requirements/keras.lock (adds the [keras] extra: TensorFlow).
ARG BACKEND=onnx

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, from the lock file (scripts/lock.sh: exact versions and hashes, resolved from
# pyproject.toml's ranges), so this layer is rebuilt only when the lock changes, not on every change to
# the service's code or to pyproject.toml.
COPY requirements/serve.lock requirements/keras.lock requirements/
RUN case "$BACKEND" in onnx) lock=serve ;; keras) lock=keras ;; \
      *) echo "BACKEND must be onnx or keras, got '$BACKEND'" >&2; exit 1 ;; esac \
 && /opt/venv/bin/pip install --require-hashes -r "requirements/$lock.lock"

# Then the service itself, non-editable and without dependencies (they are all in place). training/
# and forecast_client/ are not copied: the image serves, it neither trains nor calls itself, so the
# training console scripts go, and so does pip (nothing installs at runtime).
COPY pyproject.toml README.md ./
COPY forecast_core/ forecast_core/
COPY service/ service/
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && find /opt/venv/bin -name 'forecast-*' ! -name forecast-serve -delete \
 && /opt/venv/bin/forecast-serve --help >/dev/null

# ---------------------------------------------------------------------------------------------------
# runtime: the venv and the artifacts, run as an unprivileged user.
# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim

ARG BACKEND=onnx

LABEL org.opencontainers.image.title="stock-forecast" \
      org.opencontainers.image.description="LSTM/GRU stock-price forecasts over HTTP (FastAPI + onnxruntime)" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric UID/GID so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --gid 10001 app \
 && useradd --no-log-init --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin app

# The code is in the venv (non-editable install); the artifacts are read-only data owned by root.
COPY --from=build /opt/venv /opt/venv
COPY artifacts/ /app/artifacts/

# Nothing is written at runtime outside /tmp: bytecode was compiled at install time, HOME and the
# Keras config dir point at /tmp, so the image runs with a read-only root filesystem
# (docker run --read-only --tmpfs /tmp, or readOnlyRootFilesystem on Kubernetes).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    KERAS_HOME=/tmp/.keras \
    FORECAST_ARTIFACTS_DIR=/app/artifacts \
    FORECAST_BACKEND=${BACKEND} \
    WEB_CONCURRENCY=1

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz); readiness (/readyz) is for the orchestrator. Python, as there is no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

# Exec form: forecast-serve (uvicorn) is PID 1 and gets SIGTERM directly for a graceful shutdown.
# Workers: WEB_CONCURRENCY (default 1); each loads the models after the fork.
CMD ["forecast-serve", "--host", "0.0.0.0", "--port", "8000"]
