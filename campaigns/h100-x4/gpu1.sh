# GPU 1: HF compile / attention / decoding options, 1B and 3B shapes; then HF offline replays.
source "$(dirname "$0")/env.sh"; export CUDA_VISIBLE_DEVICES=1; O=$W/out/gpu1
$EP calibrate $CAMPAIGN/hf-mixed.json --out $O/h100-hf-mixed --gpus 1
$EP replay $T/AzureLLMInferenceTrace_code.csv --backend hf --n 64 --batch-size 16 --out $O/replays --gpus 1
$EP replay $T/AzureLLMInferenceTrace_conv.csv --backend hf --n 48 --batch-size 16 --out $O/replays --gpus 1
touch $O/DONE
