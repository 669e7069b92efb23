# One GPU, one process at a time: HF cells the 4-GPU lease missed, then vLLM (fp8, missed cells), then
# re-measurement of noisy HF cells (noisiest first) for as long as the lease lasts.
source /tmp/ep/src/calibrate/campaigns/h100-x4/env.sh; export CUDA_VISIBLE_DEVICES=0; O=$W/out/gpu0
C=calibrate/campaigns/h100-x1
$EP calibrate $C/hf-missing.json --out $O/2026-11-27-x1-hf-followup --gpus 0
wait_for_vllm
$EP calibrate $C/vllm-8b-fp8.json --out $O/2026-11-27-x1-vllm-llama8b-fp8 --gpus 0
$EP calibrate $C/vllm-8b-graphs.json --out $O/2026-11-27-x1-vllm-llama8b-graphs-followup --gpus 0
$EP calibrate $C/vllm-1b-graphs.json --out $O/2026-11-27-x1-vllm-llama1b-graphs-followup --gpus 0
PYTHONPATH=${PYTHONPATH#/tmp/vllm-site:} $EP calibrate $C/hf-noisy.json --out $O/2026-11-27-x1-hf-remeasure --gpus 0
touch $O/DONE
