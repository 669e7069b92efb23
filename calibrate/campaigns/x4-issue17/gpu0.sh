# GPU 0 of the issue-17 lease (make_grids.py says what and why): its grids in order, one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=0 VLLM_CACHE_ROOT=/root/.cache/vllm-0
for g in $C/gpu0-*.json; do
  name=$(basename $g .json); till $name $EP calibrate $g --out $O/runs/$D-x4i17-$name --gpus 0
done
touch $O/DONE-gpu0
