# Sourced by this campaign's gpuN.sh on the GPU machine: the TP campaign's environment and `step` function
# (calibrate/campaigns/h100-x2-tp/env.sh), this campaign's folder, and `till`: a step whose timeout is what is left
# before the lease's deadline (written by launch.sh), so every GPU's last journal is collected in time.
source /tmp/ep/src/calibrate/campaigns/h100-x2-tp/env.sh
C=calibrate/campaigns/x4-issue17b
till() {
  local left=$(( $(cat $O/DEADLINE) - $(date +%s) ))
  [ $left -gt 30 ] || { echo "   $1 skipped: the lease's deadline" >> $O/pipeline.log; return; }
  step "$1" $left "${@:2}"
}
# run GPU N's grids in order: run_grids N NAME...
run_grids() {
  local n=$1; shift
  export CUDA_VISIBLE_DEVICES=$n VLLM_CACHE_ROOT=/root/.cache/vllm-$n
  for g in "$@"; do
    till gpu$n-$g $EP calibrate $C/gpu$n-$g.json --out $O/runs/$D-x4i17b-gpu$n-$g --gpus $n
  done
  touch $O/DONE-gpu$n
}
