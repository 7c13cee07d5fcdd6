#!/usr/bin/env bash
# The device check, one prepared script (at most 10 minutes on one H200 GPU, installation
# included): the CIFAR-10 study's gpu variant (5 activations x 20 paired seeds of the airbench94
# recipe, bfloat16, timed including compilation), the activation benchmark (with Nish's two float32
# sine paths, polynomial and jnp.sin, timed side by side), the model step benchmark (ResNet-18 at CIFAR
# size, relu vs nish) and the vmapped-vs-sequential seeds benchmark, all in one Markdown report.
#
#   bash scripts/accelerator_check.sh              # on the accelerator machine
#   bash scripts/accelerator_check.sh --cpu-smoke  # the same path on the CPU, tiny sizes
#
# Report: $OUT/accelerator_check.md when OUT is set (with the full log beside it), else
# results/accelerator_check/accelerator_check.md. The study's outputs (runs.csv, comparisons.csv,
# table, figure, summary, config.json, meta.json), ready to commit under docs/results/: in
# $OUT/results/cifar10_study/<variant>/, else results/accelerator_check/results/cifar10_study/.
# Python: $NISH_PYTHON, else .venv/bin/python, else python3, the first whose jax sees an
# accelerator (any, for --cpu-smoke) and imports the project's dependencies. A python3 that lacks
# some pure-Python ones gets them from wheels in .whl/ (carried to an offline machine) or from
# PyPI. With no usable jax at all it makes .venv-accel: pip install -e . plus jax[cuda13] or
# jax[cuda12] (from nvidia-smi's CUDA version) or jax[tpu] (needs PyPI).
# Data: CIFAR-10 under $NISH_DATA_DIR, by default ../shared/data, shared/data or .devdata
# (copy ../shared/data/cifar10 to .devdata/cifar10 and carry .devdata to a machine without it).
set -euo pipefail

MODE=accelerator
case "${1:-}" in
  "") ;;
  --cpu-smoke) MODE=cpu-smoke ;;
  *) echo "usage: $0 [--cpu-smoke]" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT_DIR=${OUT:-$REPO/results/accelerator_check}
mkdir -p "$OUT_DIR"
REPORT=$OUT_DIR/accelerator_check.md
LOG=$OUT_DIR/accelerator_check.log
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export NISH_DATA_DIR=${NISH_DATA_DIR:-$REPO/../shared/data:$REPO/shared/data:$REPO/.devdata:/usr/share/datasets}
export PYTHONUNBUFFERED=1
REQUIRED="jax flax optax orbax.checkpoint ml_collections absl scipy matplotlib tqdm PIL"

backend() { "$1" -c 'import jax; print(jax.default_backend())' 2>/dev/null || echo none; }
missing() {
  "$1" - "$REQUIRED" <<'EOF'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1].split() if importlib.util.find_spec(m) is None))
EOF
}

provide_missing() {  # $1: python whose jax works; installs what it lacks into $WORK/site
  local py=$1 absent
  absent=$(missing "$py")
  [[ -z $absent ]] && return 0
  echo "missing modules for $py: $absent" >&2
  mkdir -p "$WORK/site"
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --target "$WORK/site" .whl/*.whl >&2
  else
    local packages=${absent//ml_collections/ml-collections}
    packages=${packages//orbax.checkpoint/orbax-checkpoint}
    packages=${packages//absl/absl-py}
    packages=${packages//PIL/pillow}
    "$py" -m pip install -q --target "$WORK/site" $packages >&2
  fi
  export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
  [[ -z $(missing "$py") ]]
}

make_venv() {  # a fresh .venv-accel with the accelerator build of jax (needs PyPI)
  local extra=tpu cuda
  if command -v nvidia-smi >/dev/null; then
    cuda=$(nvidia-smi | sed -n 's/.*CUDA Version: \([0-9]*\).*/\1/p' | head -n1)
    extra=$([[ ${cuda:-12} -ge 13 ]] && echo cuda13 || echo cuda12)
  fi
  echo "creating .venv-accel with jax[$extra]" >&2
  python3 -m venv .venv-accel
  .venv-accel/bin/pip install -q --upgrade pip >&2
  .venv-accel/bin/pip install -q -e ".[experiments]" "jax[$extra]" >&2
  PY=$REPO/.venv-accel/bin/python
}

choose_python() {  # sets PY (not in a subshell: provide_missing may export PYTHONPATH)
  local candidate found
  for candidate in ${NISH_PYTHON:-} .venv/bin/python python3; do
    command -v "$candidate" >/dev/null || continue
    found=$(backend "$candidate")
    [[ $found == none ]] && continue
    [[ $MODE == accelerator && $found == cpu ]] && continue
    if provide_missing "$candidate"; then
      PY=$candidate
      return 0
    fi
  done
  [[ $MODE == accelerator ]] || { echo "no python with jax and the dependencies" >&2; return 1; }
  make_venv
}

if [[ $MODE == cpu-smoke ]]; then
  export JAX_PLATFORMS=cpu
fi
choose_python

# Sizes: the accelerator's, or tiny ones for the CPU smoke run. Time limits (s) per step: the
# study, then the activation, model and seeds benchmarks (10 minutes in all with installation).
if [[ $MODE == accelerator ]]; then
  STUDY_ARGS=(--gpu)
  ACT_ARGS=()
  MODEL_ARGS=(--models resnet18 --sizes cifar --acts relu nish --no-torch)
  SEED_ARGS=(--benchmarks cifar10_resnet18 --runs 4 --steps 5 --repeats 2)
  LIMITS=(400 45 60 60)
else
  STUDY_ARGS=(--gpu --variant smoke --steps 1 --repeats 1)
  ACT_ARGS=(--size 4096 --repeats 1)
  MODEL_ARGS=(--quick --models squeezenet1_1 --acts nish --batch 4 --no-torch)
  SEED_ARGS=(--benchmarks mnist_mlp --runs 2 --steps 1 --batch-size 32 --repeats 1)
  LIMITS=(1800 1800 1800 1800)  # a guard against a hang, not a timing: the CPU may be shared
fi
STUDY_VARIANT=$([[ $MODE == accelerator ]] && echo gpu || echo smoke)

section() { printf '\n## %s\n\n' "$1" >>"$REPORT"; }
run_step() {  # run_step LIMIT TITLE COMMAND...: output into the log and, fenced, the report
  local limit=$1 title=$2 status=0
  shift 2
  section "$title"
  echo "\$ ${*}" >>"$LOG"
  timeout "$limit" "$@" >"$WORK/step.out" 2>"$WORK/step.err" || status=$?
  cat "$WORK/step.out" "$WORK/step.err" >>"$LOG"
  {
    echo '```'
    grep -v -e 'it/s' -e 's/it' "$WORK/step.out" | tail -n 80
    echo '```'
    if ((status == 124)); then
      echo "**Stopped after ${limit} s (time limit).**"
    elif ((status != 0)); then
      echo "**Failed with exit status $status:**"
      echo '```'
      tail -n 25 "$WORK/step.err"
      echo '```'
    fi
  } >>"$REPORT"
  return 0
}

{
  echo "# Accelerator check ($MODE)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo n/a)"
  echo "- python: $PY"
  "$PY" -c 'import jax, jaxlib; print(f"- jax {jax.__version__}, jaxlib {jaxlib.__version__}, backend {jax.default_backend()}: {jax.devices()}")'
  if command -v nvidia-smi >/dev/null; then
    echo "- $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1)"
  fi
} >"$REPORT"
: >"$LOG"

run_step "${LIMITS[0]}" "CIFAR-10 study: $STUDY_VARIANT variant, timed" \
  "$PY" -m benchmarks.study "${STUDY_ARGS[@]}" --output-root "$OUT_DIR/results"
run_step "${LIMITS[1]}" "Activation benchmark" "$PY" -m benchmarks.activation "${ACT_ARGS[@]}"
run_step "${LIMITS[2]}" "Model benchmark" "$PY" -m benchmarks.models "${MODEL_ARGS[@]}"
run_step "${LIMITS[3]}" "Seeds: vmapped against sequential" \
  "$PY" -m benchmarks.seeds "${SEED_ARGS[@]}"
echo "report: $REPORT"
cat "$REPORT"
