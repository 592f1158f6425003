#!/usr/bin/env bash
# Build the Docker image, run it and probe it for real; prints one PASS/FAIL line per check and
# exits non-zero when any check failed. Needs a working `docker` and the project's .venv (for the
# in-process reference prediction); removes every container and image it created.
#
#   bash scripts/docker-smoke.sh
#
# Environment:
#   SMOKE_ARTIFACTS=DIR   serve DIR (mounted read-only at /artifacts, FORECAST_ARTIFACTS_DIR=/artifacts)
#                         instead of the artifacts/ baked into the image; the reference prediction
#                         then comes from DIR too
#   BASE_IMAGE            the image the Dockerfile starts FROM (default python:3.11-slim), for the size
#   MAX_ADDED_MB=300      target for what the project's layers add over BASE_IMAGE
#   MAX_READY_S=3         target for docker run -> first 200 from /readyz
#   PYTHON=.venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim}
MAX_ADDED_MB=${MAX_ADDED_MB:-300}
MAX_READY_S=${MAX_READY_S:-3}
PROBE=scripts/docker_smoke_probe.py
tag="stock-forecast-smoke:$$-$RANDOM"
containers=()
buildlog=
failures=0

pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
cleanup() {
  local c id
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  docker rmi "$tag" >/dev/null 2>&1 || true
  # The layers this build made (cache hits excluded), newest first; the legacy builder prints them.
  if [[ -f $buildlog ]]; then
    awk '/^Step [0-9]+\/[0-9]+ : FROM /{ skip = 1; next } / ---> Using cache/{ skip = 1; next }
         /^ ---> [0-9a-f]+$/{ if (!skip) print $2; skip = 0 }' "$buildlog" | tac |
      while read -r id; do docker rmi "$id" >/dev/null 2>&1 || true; done
    rm -f "$buildlog"
  fi
}
trap cleanup EXIT

docker info >/dev/null 2>&1 || {
  echo "FAIL: no Docker engine answers (docker info)"
  exit 1
}

if [[ -n ${SMOKE_ARTIFACTS:-} ]]; then
  artifacts=$(cd "$SMOKE_ARTIFACTS" && pwd)
  mount=(-v "$artifacts:/artifacts:ro" -e FORECAST_ARTIFACTS_DIR=/artifacts)
  echo "smoke: serving $artifacts (mounted read-only at /artifacts)"
else
  artifacts=$PWD/artifacts
  mount=()
  echo "smoke: serving the artifacts/ baked into the image"
fi
# The server loads every model set under the directory; the in-process reference reads the set that
# serves lstm: the directory itself when it holds a manifest, else its ibm-high/ set.
reference=$artifacts
[[ -f $reference/manifest.json ]] || reference=$artifacts/ibm-high
[[ -f $reference/manifest.json ]] || {
  echo "FAIL: no manifest.json in $artifacts or $artifacts/ibm-high: train first (forecast-train) or set SMOKE_ARTIFACTS"
  exit 1
}

# --- build -------------------------------------------------------------------------------------
buildlog=$(mktemp)
t0=$(date +%s)
if docker build --network host --force-rm -t "$tag" . >"$buildlog" 2>&1; then
  pass "docker build ($(($(date +%s) - t0)) s)"
else
  fail "docker build; last lines of its log:"
  tail -30 "$buildlog"
  exit 1
fi

sizes=$("$PY" $PROBE history "$tag" "$BASE_IMAGE") || {
  fail "image size: $sizes"
  exit 1
}
read -r added_bytes added_layers base_bytes <<<"$sizes"
added_mb=$(awk -v b="$added_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
summary_size="image added size: ${added_mb} MB in ${added_layers} non-empty layers over $BASE_IMAGE ($(awk -v b="$base_bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
if awk -v a="$added_mb" -v m="$MAX_ADDED_MB" 'BEGIN { exit !(a <= m) }'; then
  pass "$summary_size, target <= $MAX_ADDED_MB MB"
else
  fail "$summary_size, target <= $MAX_ADDED_MB MB"
fi
if docker run --rm --entrypoint python "$tag" -c "import tensorflow" >/dev/null 2>&1; then
  fail "tensorflow is importable in the default image"
else
  pass "no tensorflow in the default image"
fi

# --- run: one worker, hardened as on Kubernetes (read-only root, /tmp tmpfs, no capabilities) ----
hardened=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges -p 127.0.0.1::8000)
if out=$("$PY" $PROBE start 30 -- docker run -d "${hardened[@]}" "${mount[@]}" "$tag"); then
  read -r cid port ready_s <<<"$out"
  containers+=("$cid")
else
  read -r cid port ready_s <<<"$out"
  [[ -n ${cid:-} ]] && containers+=("$cid") && docker logs "$cid" 2>&1 | tail -20
  fail "container did not become ready ($out)"
  exit 1
fi
summary_ready="start-to-ready: ${ready_s} s (docker run -> first 200 from /readyz, port $port)"
if awk -v r="$ready_s" -v m="$MAX_READY_S" 'BEGIN { exit !(r <= m) }'; then
  pass "$summary_ready, target <= $MAX_READY_S s"
else
  fail "$summary_ready, target <= $MAX_READY_S s"
fi

check() { # check NAME CMD...: PASS/FAIL with the command's one-line account
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then pass "$name: $out"; else fail "$name: $out"; fi
}
check "/v1/models" "$PY" $PROBE models "$port"
check "/v1/models/lstm/predict matches in-process" "$PY" $PROBE predict "$port" "$reference" lstm
check "/metrics" "$PY" $PROBE metrics "$port" lstm

uid=$(docker exec "$cid" id -u)
if [[ $uid != 0 ]]; then pass "runs as non-root (id -u = $uid)"; else fail "runs as root (id -u = $uid)"; fi

# The image's own HEALTHCHECK command, run now rather than waiting for its first interval.
hc=$(docker inspect -f '{{json .Config.Healthcheck.Test}}' "$tag")
mapfile -t hc_cmd < <("$PY" -c 'import json, sys; t = json.loads(sys.argv[1]); assert t[0] == "CMD", t; print(*t[1:], sep="\n")' "$hc")
if docker exec "$cid" "${hc_cmd[@]}"; then
  pass "HEALTHCHECK command exits 0 (${hc_cmd[*]:0:2} ...)"
else
  fail "HEALTHCHECK command failed: $hc"
fi

stop_and_check() { # stop_and_check CID LABEL: SIGTERM, then exit code 0 within 10 s
  local c=$1 label=$2 t code
  t=$(date +%s.%N)
  docker kill -s TERM "$c" >/dev/null
  code=$(timeout 10 docker wait "$c" || echo "still running")
  t=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  if [[ $code == 0 ]]; then pass "$label: SIGTERM -> exit code 0 in $t s"; else fail "$label: SIGTERM -> exit code $code after $t s"; fi
}
stop_and_check "$cid" "1 worker"
[[ -z $(docker ps -q --filter "id=$cid") ]] || fail "container still running after SIGTERM"

# --- run: WEB_CONCURRENCY=2, each worker loads the models after the fork ----------------------------
if out=$("$PY" $PROBE start 30 -- docker run -d -e WEB_CONCURRENCY=2 "${hardened[@]}" "${mount[@]}" "$tag"); then
  read -r cid2 port2 ready2_s <<<"$out"
  containers+=("$cid2")
  workers=$(docker top "$cid2" -o pid,args | grep -c 'multiprocessing-fork' || true)
  if [[ $workers == 2 ]]; then
    pass "WEB_CONCURRENCY=2: ready in $ready2_s s with $workers worker processes"
  else
    fail "WEB_CONCURRENCY=2: $workers worker processes, expected 2"
  fi
  check "WEB_CONCURRENCY=2 /v1/models/lstm/predict" "$PY" $PROBE predict "$port2" "$reference" lstm
  stop_and_check "$cid2" "2 workers"
else
  read -r cid2 _ _ <<<"$out"
  [[ -n ${cid2:-} ]] && containers+=("$cid2") && docker logs "$cid2" 2>&1 | tail -20
  fail "WEB_CONCURRENCY=2: container did not become ready ($out)"
fi

echo
echo "smoke: $summary_size"
echo "smoke: $summary_ready"
if ((failures)); then
  echo "smoke: FAIL ($failures failed)"
  exit 1
fi
echo "smoke: PASS (all checks)"
