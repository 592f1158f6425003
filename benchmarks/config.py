"""Where the harness finds its inputs, what it measures, the targets it checks, and its two run profiles.

Nothing here imports more than the standard library, so every other harness module (and the tests)
can take these names for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "IBM.csv"


def artifacts_dir(repo: Path = REPO) -> Path:
    """The committed IBM artifacts: ``artifacts/ibm-high`` once they have moved there, else ``artifacts``.

    One place decides it, so the harness works on either side of the move (and on an older checkout,
    which is what ``benchmarks/ab.py`` hands it).
    """
    moved = repo / "artifacts" / "ibm-high"
    return moved if moved.is_dir() else repo / "artifacts"


ARTIFACTS = artifacts_dir()
COLUMN = "High"
MODELS = ("lstm", "gru", "ensemble")
BACKENDS = ("onnx", "keras")
BATCHES = (1, 8, 64, 256)
THREAD_BATCHES = (1, 64, 256)
HORIZON = 251
CONCURRENCY = (1, 8, 64)
HTTP_MODEL = "lstm"

# Targets on this 2-core machine (the list). "at most" targets are upper bounds.
TARGET_NEXT_STEP_P50_S = 0.002
TARGET_FORECAST_P50_S = 0.100
TARGET_LSTM_WINDOWS_PER_S = 6_000
TARGET_PREDICT_VS_HEALTHZ = 0.50
TARGET_READY_S = 2.0
TARGET_RSS_PER_WORKER_MB = 300

Request = tuple[str, str, str | None]  # method, path, JSON body


@dataclass(frozen=True)
class Profile:
    """How long each measurement runs: the normal run, or a quick smoke run."""

    name: str
    measure_s: float  # in-process: seconds per latency/throughput measurement (ours)
    latency_calls: int  # in-process: at most this many single-window calls (ours)
    forecast_reps: int  # in-process: at most this many 251-step forecasts (ours)
    notebook_s: float  # in-process: seconds per notebook-way measurement (at least 5 calls each)
    notebook_steps: int  # notebook-way recursive steps timed, then extrapolated to 251
    wrk_s: int  # HTTP: seconds per load run
    warm_s: int  # HTTP: seconds of warm-up load per server
    soak_requests: int  # HTTP: requests each server has answered before the second RSS reading
    soak_limit_s: int  # HTTP: the soak stops here even short of soak_requests
    cold_runs_onnx: int
    cold_runs_keras: int
    keras_http: bool  # start a keras-backend server for HTTP latency and memory


FULL = Profile(
    name="normal",
    measure_s=1.0,
    latency_calls=20_000,
    forecast_reps=200,
    notebook_s=1.5,
    notebook_steps=20,
    wrk_s=5,
    warm_s=2,
    soak_requests=50_000,
    soak_limit_s=180,
    cold_runs_onnx=3,
    cold_runs_keras=2,
    keras_http=True,
)
QUICK = Profile(
    name="quick",
    measure_s=0.25,
    latency_calls=2_000,
    forecast_reps=20,
    notebook_s=0.4,
    notebook_steps=5,
    wrk_s=1,
    warm_s=1,
    soak_requests=5_000,
    soak_limit_s=10,
    cold_runs_onnx=1,
    cold_runs_keras=1,
    keras_http=False,
)
