# The whole one-GPU lease; started detached by launch.sh. One engine per process, one after another.
source /tmp/ep/src/calibrate/campaigns/h100-x2-tp/env.sh
C=calibrate/campaigns/h200-x1; G=$C/campaign.json; T=/tmp/ep/src/shared-traces
mkdir -p $O/runs $O/replays
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1); echo "   card: $CARD" >> $O/pipeline.log
cal() {  # cal MODEL CONFIG TIMEOUT: one engine's cells of the grid
  step "$2-$1" $3 $EP calibrate $G --only-model $1 --only-config $2 --out $O/runs/$D-h200-$2-$1 --gpus 0
}
cal Llama-3.1-8B hf-eager 300
# The H100's replay request sets (n 120, seed 0): offline, and online at two rates each
step replay-code 330 $EP replay $T/AzureLLMInferenceTrace_code.csv --backend vllm --n 120 --modes offline,online \
  --rates 5,10 --out $O/replays --gpus 0
step replay-conv 300 $EP replay $T/AzureLLMInferenceTrace_conv.csv --backend vllm --n 120 --modes offline,online \
  --rates 10,20 --out $O/replays --gpus 0
cal Mixtral-8x7B vllm-graphs 330
cal Llama-3.1-8B vllm-graphs-fp8 240
cal Llama-3.1-8B vllm-eager 200
cal Llama-3.2-1B vllm-graphs 200
cal Llama-3.2-3B vllm-graphs 200
echo "== DONE $(date -u +%T)" >> $O/pipeline.log
touch $O/DONE
