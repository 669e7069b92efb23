# GPU 0: HF eager Llama-3.1-8B: missing cells, then noisy cells re-measured (10 Hz sampler).
source /tmp/ep/src/calibrate/campaigns/h100-x4/env.sh; export CUDA_VISIBLE_DEVICES=0; O=$W/out/gpu0; N=calibrate/campaigns/next; D=$(date +%F)
$EP calibrate $N/hf.json --only-config hf-eager --only-model Llama-3.1-8B --out $O/$D-hf-llama8b-eager --gpus 0
touch $O/DONE
