# GPU 3: vLLM eager 8B and CUDA-graph 1B grids; then vLLM replays, offline and online.
source "$(dirname "$0")/env.sh"; export CUDA_VISIBLE_DEVICES=3; O=$W/out/gpu3
wait_for_vllm
$EP calibrate $CAMPAIGN/vllm-8b-eager.json --out $O/h100-vllm-llama8b-eager --gpus 3
$EP calibrate $CAMPAIGN/vllm-1b-graphs.json --out $O/h100-vllm-llama1b-graphs --gpus 3
$EP replay $T/AzureLLMInferenceTrace_code.csv --backend vllm --n 120 --modes offline,online --rates 2.57,10 \
  --out $O/replays --gpus 3
$EP replay $T/AzureLLMInferenceTrace_conv.csv --backend vllm --n 120 --modes offline,online --rates 5.53,20 \
  --out $O/replays --gpus 3
touch $O/DONE
