# GPU 3 of the issue-17 lease (make_grids.py says what and why): its grids in order, one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=3 VLLM_CACHE_ROOT=/root/.cache/vllm-3
for g in $C/gpu3-*.json; do
  name=$(basename $g .json); till $name $EP calibrate $g --out $O/runs/$D-x4i17-$name --gpus 3
done
till gpu3-mooncake-nocaching $EP replay $T/conversation_trace.jsonl --backend vllm --n 32 --sample conversations \
  --modes offline --repetitions 1 --no-prefix-caching --out $O/replays --gpus 3
touch $O/DONE-gpu3
