# GPU 1 of the issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17/env.sh; export CUDA_VISIBLE_DEVICES=1 VLLM_CACHE_ROOT=/root/.cache/vllm-1
till gpu1-prefix $EP calibrate $C/gpu1-prefix.json --out $O/runs/$D-x4i17-gpu1-prefix --gpus 1
till gpu1-hf $EP calibrate $C/gpu1-hf.json --out $O/runs/$D-x4i17-gpu1-hf --gpus 1
touch $O/DONE-gpu1
