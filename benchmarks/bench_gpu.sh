#!/usr/bin/env bash
# `make bench-gpu`: tsforecast against the peers on an NVIDIA GPU, in one command of under 10
# minutes (a few on an H100/H200). Run from anywhere; it works in the repository root.
#
#   make bench-gpu                          # = bash benchmarks/bench_gpu.sh
#   bash benchmarks/bench_gpu.sh --prepare  # beforehand, on a machine with ../shared and pip:
#                                           # copies ../shared/peers to .peers/ and fetches the
#                                           # cp312 wheels of keras, namex, optree into .peers/.whl
#
# What it does, printing a "== bench-gpu:" line for each step:
#  1. Stops at once, with one line and exit 1, unless `nvidia-smi -L` lists a GPU.
#  2. Makes .venv-gpu from $PYTHON (python3) with --system-site-packages, plus a .pth file that
#     adds that interpreter's own site-packages (a venv made from a venv does not see them), so the
#     CUDA jax already installed there is the venv's; installs tsforecast into it offline
#     (pip install --no-deps --no-build-isolation -e .; if that fails, a .pth file to this
#     checkout). If jax there sees no GPU, it tries pip install 'jax[cuda13]', then 'jax[cuda12]'
#     (needs the network), and stops with one line if jax still sees none.
#  3. For the Keras peer, installs the wheels in <peers>/.whl into .bench/gpu/site offline, as
#     ../shared/peers/gpu_run.sh does (unpacking them if pip refuses), and checks keras imports.
#  4. Runs the device checks: pytest -q tests/test_device.py with JAX_PLATFORMS=cuda and
#     TSFORECAST_EXPECT_BACKEND=gpu.
#  5. Runs benchmarks/speed.py with the peers (run through <peers>/run_all.sh, as gpu_run.sh does)
#     at each of BATCHES, 5 epochs, tsforecast on the one GPU, and writes
#     benchmarks/results/speed-gpu.json: {"machine": ..., "runs": [speed.py's JSON per batch]}.
#
# Env: PEERS_DIR (the peers' folder; default .peers if it exists, else ../shared/peers),
#   PYTHON (python3), GPU_VENV (.venv-gpu), BATCHES ("256 1024"), EPOCHS (5),
#   PEERS (keras_seed,torch_lstm,flax_naive; or none), TIMEOUT (120 s per peer run),
#   BUDGET_S (540: every speed run is cut off so the whole stays under this; a batch is not
#   started with under 150 s left), SPEED_ARGS (more speed.py options), OUT_JSON (the result),
#   BENCH_GPU_ALLOW_CPU=1 (a dry run on a machine without a GPU: no GPU check, JAX_PLATFORMS=cpu,
#   and the result goes to .bench/gpu/speed-cpu-dry-run.json unless OUT_JSON is set).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { echo "== bench-gpu: $*" >&2; }
die() {
  echo "bench-gpu: $*" >&2
  exit 1
}

WHEELS="keras==3.15.1 namex==0.1.0 optree==0.20.0" # the peers README's versions
if [ "${1:-}" = --prepare ]; then
  src=${PEERS_SRC:-../shared/peers}
  [ -f "$src/run_all.sh" ] || die "no peers in $src"
  rm -rf .peers && mkdir .peers || exit 1
  tar -C "$src" -cf - --exclude=./.venv --exclude='*.csv' --exclude=./.keras \
    --exclude=__pycache__ . | tar -C .peers -xf - || die "could not copy $src to .peers"
  chmod -R u+w .peers
  if [ "$(ls .peers/.whl/*.whl 2>/dev/null | wc -l)" -lt 3 ]; then
    ${PYTHON:-python3} -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .peers/.whl \
      $WHEELS || die "could not download the wheels $WHEELS into .peers/.whl"
  fi
  say "copied $src to .peers ($(du -sh .peers | cut -f1)), wheels: $(ls .peers/.whl | tr '\n' ' ')"
  exit 0
fi

VENV=$ROOT/${GPU_VENV:-.venv-gpu}
PY=${PYTHON:-python3}
WORK=$ROOT/.bench/gpu
BATCHES=${BATCHES:-"256 1024"}
EPOCHS=${EPOCHS:-5}
PEERS=${PEERS:-keras_seed,torch_lstm,flax_naive}
BUDGET_S=${BUDGET_S:-540}
export TIMEOUT=${TIMEOUT:-120} # read by run_all.sh: seconds per peer run

# 1. A GPU, or one line and out.
if [ "${BENCH_GPU_ALLOW_CPU:-}" = 1 ]; then
  PLATFORM=cpu
  EXPECT=cpu
  OUT_JSON=${OUT_JSON:-$WORK/speed-cpu-dry-run.json}
  say "BENCH_GPU_ALLOW_CPU=1: a dry run on the CPU, no GPU check; result to $OUT_JSON"
else
  command -v nvidia-smi >/dev/null 2>&1 ||
    die "no NVIDIA GPU on this machine (nvidia-smi not found): run make bench-gpu on a machine with one"
  gpus=$(nvidia-smi -L 2>&1)
  if [ $? -ne 0 ] || ! printf '%s\n' "$gpus" | grep -q '^GPU '; then
    die "no NVIDIA GPU on this machine (nvidia-smi -L: $(printf '%s\n' "$gpus" | head -n 1))"
  fi
  PLATFORM=cuda
  EXPECT=gpu
  OUT_JSON=${OUT_JSON:-$ROOT/benchmarks/results/speed-gpu.json}
  say "$(printf '%s\n' "$gpus" | head -n 1)"
fi
mkdir -p "$WORK"
rm -f "$WORK"/speed-b*.json

# 2. The venv: the machine's CUDA jax, and tsforecast from this checkout.
command -v "$PY" >/dev/null 2>&1 || die "no $PY to make $VENV from (set PYTHON)"
if [ ! -x "$VENV/bin/python" ]; then
  say "making $VENV from $("$PY" -c 'import sys; print(sys.executable)') (--system-site-packages)"
  "$PY" -m venv --system-site-packages "$VENV" 2>"$WORK/venv.log" ||
    "$PY" -m venv --clear --system-site-packages --without-pip "$VENV" 2>>"$WORK/venv.log" ||
    die "could not make $VENV: $(tail -n 1 "$WORK/venv.log")"
fi
VPY=$VENV/bin/python
site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') ||
  die "$VPY does not run"
"$PY" - "$site/_bench_gpu_base.pth" <<'EOF' || die "could not write $site/_bench_gpu_base.pth"
import sys

dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
with open(sys.argv[1], "w") as f:
    f.write("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
EOF
if "$VPY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$WORK/pip-e.log" 2>&1; then
  rm -f "$site/_bench_gpu_tsforecast.pth"
  say "installed tsforecast into $VENV (pip install --no-deps --no-build-isolation -e .)"
else
  printf '%s\n' "$ROOT" >"$site/_bench_gpu_tsforecast.pth"
  why=$(grep -iE 'error' "$WORK/pip-e.log" | grep -v subprocess-exited | head -n 1 | sed 's/^ *//')
  say "pip install -e . failed (${why:-see $WORK/pip-e.log}); put $ROOT on $VENV's path instead"
fi
found=$(cd / && "$VPY" -c 'import os, tsforecast; print(os.path.realpath(tsforecast.__file__))' 2>&1)
[ "$found" = "$(pwd -P)/tsforecast/__init__.py" ] ||
  die "$VENV imports tsforecast from ${found##*$'\n'}, not $ROOT"

jax_devices() { # the devices of jax's $EXPECT backend, or why there are none (the last line)
  "$VPY" - "$EXPECT" 2>&1 <<'EOF'
import sys

import jax

try:
    devices = jax.devices(sys.argv[1])
except Exception as e:  # one line saying why
    sys.exit(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
print("jax", jax.__version__, "sees", devices)
EOF
}
if ! devices=$(jax_devices) && [ "$PLATFORM" = cuda ]; then
  say "jax in $VENV sees no GPU (${devices##*$'\n'}); trying pip install 'jax[cuda13]', 'jax[cuda12]'"
  for extra in cuda13 cuda12; do
    if "$VPY" -m pip install -q --retries 0 --timeout 20 "jax[$extra]>=0.4.35,<0.12" >&2 &&
      devices=$(jax_devices); then
      say "installed jax[$extra] into $VENV"
      break
    fi
  done
fi
devices=$(jax_devices) || die "jax in $VENV sees no ${EXPECT^^} (${devices##*$'\n'})"
devices=${devices##*$'\n'}
say "$devices"

# 3. The peers, and keras for keras_seed (the GPU machine's python lacks it).
if [ -z "${PEERS_DIR:-}" ]; then
  if [ -d .peers ]; then PEERS_DIR=.peers; else PEERS_DIR=../shared/peers; fi
fi
[ -f "$PEERS_DIR/run_all.sh" ] ||
  die "no peers in $PEERS_DIR: copy them there (bash benchmarks/bench_gpu.sh --prepare) or set PEERS_DIR"
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
PEERS_AT=$PEERS_DIR
if [ "$(basename "$PEERS_DIR")" != peers ]; then
  # run_all.sh runs peers/NAME.py from its folder's parent: give it a folder named peers.
  mkdir -p "$WORK/link"
  ln -sfn "$PEERS_DIR" "$WORK/link/peers"
  PEERS_AT=$WORK/link/peers
fi
PEER_PATH=${PYTHONPATH:-}
if [ "$PEERS" != none ] && ls "$PEERS_DIR"/.whl/*.whl >/dev/null 2>&1; then
  rm -rf "$WORK/site"
  if ! "$VPY" -m pip install -q --no-index --no-deps --target "$WORK/site" "$PEERS_DIR"/.whl/*.whl \
    >"$WORK/pip-peers.log" 2>&1; then
    say "pip refused the wheels ($(tail -n 1 "$WORK/pip-peers.log")); unpacking them instead"
    for w in "$PEERS_DIR"/.whl/*.whl; do "$VPY" -m zipfile -e "$w" "$WORK/site" || die "bad wheel $w"; done
  fi
  PEER_PATH=$WORK/site${PEER_PATH:+:$PEER_PATH}
  say "peers from $PEERS_DIR, its wheels in $WORK/site: $(ls "$PEERS_DIR"/.whl | tr '\n' ' ')"
else
  say "peers from $PEERS_DIR (no wheels in $PEERS_DIR/.whl)"
fi
export KERAS_BACKEND=jax KERAS_HOME=$WORK/keras PYTHONUNBUFFERED=1
case ",$PEERS," in
*,keras_seed,*)
  keras=$(PYTHONPATH=$PEER_PATH JAX_PLATFORMS=$PLATFORM "$VPY" -c \
    'import keras; print(keras.__version__)' 2>&1) ||
    die "keras does not import for the keras_seed peer (${keras##*$'\n'}): carry its wheels in $PEERS_DIR/.whl (bash benchmarks/bench_gpu.sh --prepare makes .peers with them) or set PEERS=torch_lstm,flax_naive"
  say "keras $keras"
  ;;
esac

# 4. The test suite's device checks, on the GPU.
say "device checks: pytest -q tests/test_device.py (JAX_PLATFORMS=$PLATFORM)"
JAX_PLATFORMS=$PLATFORM TSFORECAST_EXPECT_BACKEND=$EXPECT "$VPY" -m pytest -q -p no:cacheprovider \
  tests/test_device.py || die "the device checks failed (tests/test_device.py, above)"

# 5. speed.py with the peers beside it, one run per batch size.
runs=()
for b in $BATCHES; do
  left=$((BUDGET_S - SECONDS))
  if [ "$left" -lt 150 ]; then
    say "not starting --batch $b: ${SECONDS}s of the ${BUDGET_S}s budget used"
    continue
  fi
  say "speed: benchmarks/speed.py --batch $b --epochs $EPOCHS --devices 1 --peers $PEERS (${left}s left)"
  # shellcheck disable=SC2086 # SPEED_ARGS is a list of options
  JAX_PLATFORMS=$PLATFORM PEERS_PY=$VPY PYTHONPATH=$PEER_PATH timeout "$left" \
    "$VPY" benchmarks/speed.py --batch "$b" --epochs "$EPOCHS" --devices 1 --peers "$PEERS" \
    --peers-dir "$PEERS_AT" --out "$WORK/speed-b$b.json" ${SPEED_ARGS:-}
  status=$?
  if [ -f "$WORK/speed-b$b.json" ]; then
    runs+=("$WORK/speed-b$b.json")
  else
    say "speed.py --batch $b wrote nothing (exit $status$([ $status -eq 124 ] && echo ': out of time'))"
  fi
done
[ ${#runs[@]} -gt 0 ] || die "no speed run finished"

mkdir -p "$(dirname "$OUT_JSON")"
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)
PYTHONPATH=$PEER_PATH "$VPY" - "$OUT_JSON" "$gpu" "$devices" "${runs[@]}" <<'EOF'
import json
import platform
import sys
from importlib import metadata

out, gpu, devices, *runs = sys.argv[1:]
names = "tsforecast jax jaxlib jax-cuda13-plugin jax-cuda12-plugin flax optax keras torch numpy"
versions = {}
for name in names.split():
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
machine = {"gpu": gpu, "jax_devices": devices, "python": platform.python_version()} | versions
result = {"machine": machine, "runs": [json.load(open(path)) for path in runs]}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
failed = [
    f"{row['peer']} at batch {run['workload']['batch']}: {row['error']}"
    for run in result["runs"]
    for row in run["rows"]
    if "error" in row
]
for line in failed:
    print(f"== bench-gpu: failed: {line}", file=sys.stderr)
sys.exit(3 if failed else 0)  # 1: an exception
EOF
merged=$?
[ $merged -eq 0 ] || [ $merged -eq 3 ] || die "could not write $OUT_JSON"
say "wrote $OUT_JSON (batches: $(printf '%s ' "${runs[@]##*speed-b}" | sed 's/\.json//g'); ${SECONDS}s in all)"
[ ${#runs[@]} -eq "$(echo $BATCHES | wc -w)" ] || die "not every batch finished (above)"
[ $merged -eq 0 ] || die "some runs failed: their rows in $OUT_JSON hold the error (above)"
