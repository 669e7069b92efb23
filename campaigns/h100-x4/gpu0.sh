# GPU 0: HF transformers, Llama-3.1-8B, eager (sdpa): the main HF grid.
source "$(dirname "$0")/env.sh"; export CUDA_VISIBLE_DEVICES=0; O=$W/out/gpu0
$EP calibrate $CAMPAIGN/hf-8b-eager.json --out $O/h100-hf-llama8b-eager --gpus 0
touch $O/DONE
