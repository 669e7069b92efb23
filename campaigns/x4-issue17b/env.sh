# Sourced by this campaign's gpuN.sh on the GPU machine: the first issue-17 campaign's environment, `step` and
# `till` (campaigns/x4-issue17/env.sh), this campaign's folder, and `run_grids`.
source /tmp/ep/src/campaigns/x4-issue17/env.sh
C=campaigns/x4-issue17b
# run GPU N's grids in order: run_grids N NAME...
run_grids() {
  local n=$1; shift
  export CUDA_VISIBLE_DEVICES=$n VLLM_CACHE_ROOT=/root/.cache/vllm-$n
  for g in "$@"; do
    till gpu$n-$g $EP calibrate $C/gpu$n-$g.json --out $O/runs/$D-x4i17b-gpu$n-$g --gpus $n
  done
  touch $O/DONE-gpu$n
}
