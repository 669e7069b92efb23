# GPU 2 of the issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=2 VLLM_CACHE_ROOT=/root/.cache/vllm-2
till gpu2-vllm-spec-1b-k4 $EP calibrate $C/gpu2-vllm-spec-1b-k4.json --out $O/runs/$D-x4i17-gpu2-vllm-spec-1b-k4 --gpus 2
till gpu2-mooncake $EP replay $T/conversation_trace.jsonl --backend vllm --n 32 --sample conversations \
  --modes offline --repetitions 1 --prefix-caching --out $O/replays --gpus 2
till gpu2-vllm-spec-1b-k2 $EP calibrate $C/gpu2-vllm-spec-1b-k2.json --out $O/runs/$D-x4i17-gpu2-vllm-spec-1b-k2 --gpus 2
till gpu2-vllm-spec-self-k4 $EP calibrate $C/gpu2-vllm-spec-self-k4.json --out $O/runs/$D-x4i17-gpu2-vllm-spec-self-k4 --gpus 2
touch $O/DONE-gpu2
