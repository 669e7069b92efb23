# GPU 2: vLLM, Llama-3.1-8B, CUDA graphs (bf16, then fp8).
source "$(dirname "$0")/env.sh"; export CUDA_VISIBLE_DEVICES=2; O=$W/out/gpu2
wait_for_vllm
$EP calibrate $CAMPAIGN/vllm-8b-graphs.json --out $O/h100-vllm-llama8b-graphs --gpus 2
$EP calibrate $CAMPAIGN/vllm-8b-fp8.json --out $O/h100-vllm-llama8b-fp8 --gpus 2
touch $O/DONE
