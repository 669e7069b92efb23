# GPU 2 of the issue-17 lease (make_grids.py says what and why): its grids in order, one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=2 VLLM_CACHE_ROOT=/root/.cache/vllm-2
for g in $C/gpu2-*.json; do
  name=$(basename $g .json); till $name $EP calibrate $g --out $O/runs/$D-x4i17-$name --gpus 2
done
till gpu2-mooncake-caching $EP replay $T/conversation_trace.jsonl --backend vllm --n 32 --sample conversations \
  --modes offline --repetitions 1 --prefix-caching --out $O/replays --gpus 2
touch $O/DONE-gpu2
