#!/usr/bin/env bash
# Issue #23's GPU measurement: 3 seeds of one model per task (`single`), the best fully shared joint arm
# (`joint_temperature`) and the best capacity arm (`joint_temperature_adapters`) of bench/quality.py, at the full
# budget, so every difference in docs/benchmarks.md's trade-off table can be set against a measured seed spread.
#
#   bash bench/gpu_quality_seeds.sh [--seeds 0,1,2] [--arms A,B] [--out DIR] [--site DIR] [--data-dir DIR]
#                                   [--cpu-dry-run]
#
# It is bench/quality.py's noise mode (`--noise-seeds`): the arms once per seed, one after the other, each arm's
# result written to $OUT/quality_noise_gpu.json as it ends, so a run stopped by a time limit is resumed by running
# the same command again (finished arms are skipped); the last lines give each task's standard deviation and range
# in points. The packages must be installed already: bench/gpu_suite.sh's step 0 installs them from wheels into
# its OUT/site, and --site names that folder (default bench/out/gpu_suite/site, gpu_suite.sh's default OUT), which
# goes first on PYTHONPATH when it exists. The data folder must be there too (--data-dir, else $HF_MTL_DATA, else
# ../shared/data): carry it to the GPU machine.
#
# --cpu-dry-run runs the same arms at a tiny budget (--scale 0.002 --max-examples 64, one thread) so the script
# is known to work before a GPU is lent. Default output folder: bench/out/gpu_quality (git-ignored).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/bench/out/gpu_quality"
SITE="$REPO/bench/out/gpu_suite/site"
SEEDS="0,1,2"
ARMS="single,joint_temperature,joint_temperature_adapters"
DRY=0
DATA_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --arms) ARMS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --site) SITE="$2"; [ -d "$SITE" ] || { echo "gpu_quality_seeds.sh: --site $SITE: no such folder" >&2; exit 2; }
            shift 2 ;;
    --data-dir) DATA_ARGS=(--data-dir "$2"); shift 2 ;;
    --cpu-dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_quality_seeds.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$([ -d "$SITE" ] && echo "$SITE:")$REPO${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

SIZE_ARGS=()
if [ "$DRY" = 1 ]; then
  SIZE_ARGS=(--scale 0.002 --max-examples 64 --threads 1)
  export CUDA_VISIBLE_DEVICES=""
else
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_quality_seeds.sh: no CUDA GPU '
                'visible to torch ' + torch.__version__ + ' (use --cpu-dry-run to check the script on a CPU)')" || exit 1
  "$PYTHON" -c "import torch; print('# GPU:', torch.cuda.get_device_name())"
fi
echo "# seeds $SEEDS, arms $ARMS -> $OUT/quality_noise_gpu.json"
"$PYTHON" "$REPO/bench/quality.py" --noise-seeds "$SEEDS" --arms "$ARMS" \
  --noise-results "$OUT/quality_noise_gpu.json" --work "$OUT/work" "${SIZE_ARGS[@]}" "${DATA_ARGS[@]}"
