# GPU 1: HF offline replays of the Azure traces (issue 7), then HF 1B/3B cells and the decoding options.
source /tmp/ep/src/calibrate/campaigns/h100-x4/env.sh; export CUDA_VISIBLE_DEVICES=1; O=$W/out/gpu1; N=calibrate/campaigns/next; D=$(date +%F)
$EP replay $T/AzureLLMInferenceTrace_code.csv --backend hf --n 64 --batch-size 16 --out $O/replays --gpus 1
$EP replay $T/AzureLLMInferenceTrace_conv.csv --backend hf --n 48 --batch-size 16 --out $O/replays --gpus 1
python3 benchmarks/meter_overhead.py 1 > $O/meter_overhead.txt 2>&1  # bs1 512->128 with and without the sampler
for m in Llama-3.2-1B Llama-3.2-3B; do
  $EP calibrate $N/hf.json --only-config hf-eager --only-model $m --out $O/$D-hf-$m --gpus 1
done
for c in hf-eager-attn hf-sampling hf-beam4; do
  $EP calibrate $N/hf.json --only-config $c --out $O/$D-hf-$c --gpus 1
done
touch $O/DONE
