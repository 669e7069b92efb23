# End of the follow-up lease: stop the HF follow-up, measure vLLM fp8 (then missed graph cells) for
# $1 seconds, run the meter-overhead check, pack everything into $OUT.
set -u
R=$PWD
pkill -f "campaigns/h100-x1/run.sh"; pkill -f "energy_predict calibrate"; sleep 4
export CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 CUDA_VISIBLE_DEVICES=0
O=/tmp/ep/out/gpu0; C=calibrate/campaigns/h100-x1
cd /tmp/ep/src
export PYTHONPATH=/tmp/vllm-site:/tmp/site:/tmp/ep/src
( python3 -m energy_predict calibrate $C/vllm-8b-fp8.json --out $O/2026-11-27-x1-vllm-llama8b-fp8 --gpus 0
  python3 -m energy_predict calibrate $C/vllm-8b-graphs.json --out $O/2026-11-27-x1-vllm-llama8b-graphs-followup --gpus 0
) > $O/log2.txt 2>&1 &
sleep "${1:-300}"
pkill -f "energy_predict calibrate"; sleep 8
grep -E "^calibrate" $O/log2.txt | tail -n 2
cd "$R"
PYTHONPATH=/tmp/site:$R timeout 150 python3 benchmarks/meter_overhead.py 2>&1 | grep -vi warn | tail -n 5 | tee $O/meter_overhead.txt
tar -C /tmp/ep/out -czf "$OUT/gpu0.tgz" gpu0
