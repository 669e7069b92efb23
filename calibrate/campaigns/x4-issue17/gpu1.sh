# GPU 1 of the issue-17 lease (make_grids.py says what and why): its grids in order, one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=1 VLLM_CACHE_ROOT=/root/.cache/vllm-1
for g in $C/gpu1-*.json; do
  name=$(basename $g .json); till $name $EP calibrate $g --out $O/runs/$D-x4i17-$name --gpus 1
done
touch $O/DONE-gpu1
