# GPU 0 of the issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=0 VLLM_CACHE_ROOT=/root/.cache/vllm-0
till gpu0-hf $EP calibrate $C/gpu0-hf.json --out $O/runs/$D-x4i17-gpu0-hf --gpus 0
touch $O/DONE-gpu0
