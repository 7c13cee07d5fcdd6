#!/usr/bin/env bash
# The paper's MNIST claims at full scale, in the order that trains every program once:
#
#   nohup bash experiments/mnist/full.sh > mnist_full.log 2>&1 &           # hours on two CPU cores
#   nohup bash experiments/mnist/full.sh confirm > confirm.log 2>&1 &      # the confirmatory runs
#   bash experiments/mnist/full.sh smoke                                   # the same path in a minute
#
# full, quick, smoke (the variant of all three experiments):
# 1. gradient_flow: trains the depth sweep's programs at the primary depths (all six activations,
#    in the sweep's order) and measures each while its trained state is at hand;
# 2. depth_sweep: reuses those programs from their records and trains its learning-rate controls;
# 3. noise_robustness (in the variant's protocol).
# confirm: the pre-registered confirmatory runs (see their config docstrings), one after another:
# noise_robustness:confirm (Fig. 2b/2c), noise_robustness:confirm_noisy, depth_mechanism:full.
# Every finished program leaves a small record under $OUTPUT_ROOT/finished/ (commit it), so a run
# stopped at any point continues where it stopped when the same command is run again, on this
# machine or on another checkout of the committed records. Then `python -m experiments.readme`
# regenerates the README from what is under docs/results.
# OUTPUT_ROOT (default docs/results), NISH_DATA_DIR (default ../shared/data) and PY (default
# .venv/bin/python); relative paths are taken from the project root.
set -euo pipefail
PLAN=${1:-full}
case $PLAN in
  full|quick|smoke) STEPS="gradient_flow:$PLAN depth_sweep:$PLAN noise_robustness:$PLAN" ;;
  confirm) STEPS="noise_robustness:confirm noise_robustness:confirm_noisy depth_mechanism:full" ;;
  *) echo "unknown plan '$PLAN'; valid: full, quick, smoke, confirm" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export NISH_DATA_DIR=${NISH_DATA_DIR:-$PWD/../shared/data}
PY=${PY:-.venv/bin/python}
OUTPUT_ROOT=${OUTPUT_ROOT:-docs/results}
for step in $STEPS; do
  echo "== $step $(date -u +%FT%TZ)"
  "$PY" -m experiments "${step%%:*}" --config="${step#*:}" --config.output_root="$OUTPUT_ROOT"
done
echo "== done $(date -u +%FT%TZ); now: $PY -m experiments.readme"
