# The whole lease; started detached by launch.sh. Logs: /tmp/ep/out/*.log.
source /tmp/ep/src/calibrate/campaigns/x4-tp4-families/env.sh
mkdir -p $O/runs
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
case "$CARD" in *H200*) G=$C/campaign-h200.json ;; *) G=$C/campaign-h100.json ;; esac
RUN=$O/runs/$D-x4
echo "   card: $CARD grid: $G" >> $O/pipeline.log

# 1. The campaign: one command, Ray over the 4 GPUs. A watchdog falls back to the local runner (the most
#    important engine, then the rest on one GPU group each) if Ray has journaled nothing after 7 minutes.
echo "== ray-campaign start $(date -u +%T)" >> $O/pipeline.log
setsid $EP calibrate $G --out $RUN --ray > $O/ray-campaign.log 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
  sleep 5
  if [ $SECONDS -gt 420 ] && [ ! -s $RUN/records.jsonl ]; then
    echo "   ray-campaign journaled nothing in 7 min: falling back to the local runner" >> $O/pipeline.log
    kill -TERM -- -$pid; sleep 5; kill -KILL -- -$pid 2>/dev/null; python3 -m ray.scripts.scripts stop --force >/dev/null 2>&1
    FALLBACK=1; break
  fi
done
wait $pid 2>/dev/null; echo "   ray-campaign end $(date -u +%T) rc=$?" >> $O/pipeline.log
if [ -n "${FALLBACK:-}" ]; then
  step local-tp4 480 $EP calibrate $G --only-config vllm-graphs-tp4-noarfusion --only-model Llama-3.1-8B \
    --out $O/runs/$D-local-tp4-llama8b --gpus 0,1,2,3
  ( export CUDA_VISIBLE_DEVICES=0,1; step local-qwen32 420 $EP calibrate $G --only-model Qwen2.5-32B \
      --out $O/runs/$D-local-qwen32b --gpus 0,1 ) &
  ( export CUDA_VISIBLE_DEVICES=2 VLLM_CACHE_ROOT=/root/.cache/vllm-2; step local-olmoe 420 $EP calibrate $G \
      --only-model OLMoE-1B-7B --out $O/runs/$D-local-olmoe --gpus 2 ) &
  ( export CUDA_VISIBLE_DEVICES=3 VLLM_CACHE_ROOT=/root/.cache/vllm-3; step local-hf 420 $EP calibrate $G \
      --only-config hf-eager --out $O/runs/$D-local-hf-llama8b --gpus 3 ) &
  wait
fi

# 2. The meter A/B of issue 15 (no meter / sampler every window / counter only), 6 interleaved rounds.
export CUDA_VISIBLE_DEVICES=0
step meter-ab 240 python3 benchmarks/meter_overhead.py 0
echo "== DONE $(date -u +%T)" >> $O/pipeline.log
touch $O/DONE
