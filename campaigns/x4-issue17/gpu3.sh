# GPU 3 of the issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=3 VLLM_CACHE_ROOT=/root/.cache/vllm-3
till gpu3-vllm-spec-1b-k4-a100 $EP calibrate $C/gpu3-vllm-spec-1b-k4-a100.json --out $O/runs/$D-x4i17-gpu3-vllm-spec-1b-k4-a100 --gpus 3
till gpu3-mooncake $EP replay $T/conversation_trace.jsonl --backend vllm --n 32 --sample conversations \
  --modes offline --repetitions 1 --no-prefix-caching --out $O/replays --gpus 3
till gpu3-baseline $EP calibrate $C/gpu3-baseline.json --out $O/runs/$D-x4i17-gpu3-baseline --gpus 3
till gpu3-vllm-spec-1b-k4-a60 $EP calibrate $C/gpu3-vllm-spec-1b-k4-a60.json --out $O/runs/$D-x4i17-gpu3-vllm-spec-1b-k4-a60 --gpus 3
touch $O/DONE-gpu3
