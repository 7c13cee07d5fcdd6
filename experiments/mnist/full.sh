#!/usr/bin/env bash
# The paper's MNIST claims at full scale (Fig. 2a depth, Fig. 2b/2c noise, and the gradient flow of
# the depth runs), in the order that trains every program once:
#
#   nohup bash experiments/mnist/full.sh > mnist_full.log 2>&1 &   # hours on two CPU cores
#   bash experiments/mnist/full.sh smoke                             # the same path in a minute
#
# 1. gradient_flow: trains the depth sweep's programs at the primary depths (all six activations,
#    in the sweep's order) and measures each while its trained state is at hand;
# 2. depth_sweep: reuses those programs from their records and trains its learning-rate controls;
# 3. noise_robustness (in the variant's protocol: for full, noisy training, the primary one).
# Every finished program leaves a small record under $OUTPUT_ROOT/finished/ (commit it), so a run
# stopped at any point continues where it stopped when the same command is run again, on this
# machine or on another checkout of the committed records. Then `python -m experiments.readme`
# regenerates the README from what is under docs/results.
# Variant: full (default), quick or smoke, the variants all three configs have.
# OUTPUT_ROOT (default docs/results), NISH_DATA_DIR (default ../shared/data) and PY (default
# .venv/bin/python); relative paths are taken from the project root.
set -euo pipefail
VARIANT=${1:-full}
case $VARIANT in
  full|quick|smoke) ;;
  *) echo "unknown variant '$VARIANT'; valid: full, quick, smoke" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export NISH_DATA_DIR=${NISH_DATA_DIR:-$PWD/../shared/data}
PY=${PY:-.venv/bin/python}
OUTPUT_ROOT=${OUTPUT_ROOT:-docs/results}
for experiment in gradient_flow depth_sweep noise_robustness; do
  echo "== $experiment:$VARIANT $(date -u +%FT%TZ)"
  "$PY" -m experiments "$experiment" --config="$VARIANT" \
    --config.output_root="$OUTPUT_ROOT"
done
echo "== done $(date -u +%FT%TZ); now: $PY -m experiments.readme"
