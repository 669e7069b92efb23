# The one-GPU lease's work, started detached by launch.sh from the repository root: both grids one after the other
# (each engine its own process) under one deadline ($1 s), runs and logs into /tmp/x1sl, then DONE.
set -u
export PYTHONPATH=/tmp/vllm-site:$PWD CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
C=calibrate/campaigns/x1-spec-lengths; O=/tmp/x1sl; end=$(( $(date +%s) + $1 ))
for g in vllm-spec-1b-k4-a100 vllm-spec-1b-k4; do
  left=$(( end - $(date +%s) ))
  [ $left -gt 60 ] || { echo "   $g skipped: the deadline" >> $O/pipeline.log; continue; }
  echo "== $g start $(date -u +%T) timeout ${left}s" >> $O/pipeline.log
  timeout -k 5 $left python3 -m energy_predict calibrate $C/$g.json --out $O/runs/2026-11-27-x1sl-$g --gpus 0 \
    > $O/$g.log 2>&1
  echo "   $g end $(date -u +%T) rc=$?" >> $O/pipeline.log
done
touch $O/DONE
