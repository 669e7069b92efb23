# The whole lease, in order of importance; started detached by launch.sh. Logs: /tmp/ep/out/*.log.
source /tmp/ep/src/calibrate/campaigns/h100-x2-tp/env.sh
mkdir -p $O/runs $O/probes

# 1. Links and NCCL: peer access, multicast attribute, peer copy, all-reduce latency (no vLLM).
step facts 120 python3 $C/facts.py $O/facts

# 2. The start-up failure: vLLM's default for TP2 (-O2: all-reduce + RMSNorm fusion on), NCCL_DEBUG=INFO.
export CUDA_VISIBLE_DEVICES=0,1
step probe-tp2-graphs-default 240 env NCCL_DEBUG=INFO python3 $C/probe.py tp2-graphs-default 2 1 '{}' $O/probes
if grep -q '"started": true' $O/probes/tp2-graphs-default.json 2>/dev/null; then TP2=vllm-graphs-tp2
else TP2=vllm-graphs-tp2-noarfusion; fi
echo "   TP2 config: $TP2" >> $O/pipeline.log

# 3. Llama-3.1-8B TP2 with CUDA graphs; if that does not start either, eager.
step cal-tp2 480 $EP calibrate $C/tp2.json --only-config $TP2 --out $O/runs/$D-$TP2-llama8b --gpus 0,1
if ! grep -q '"status": "ok"' $O/runs/$D-$TP2-llama8b/records.jsonl 2>/dev/null; then
  step cal-tp2-eager 420 $EP calibrate $C/tp2.json --only-config vllm-eager-tp2 --out $O/runs/$D-vllm-eager-tp2-llama8b --gpus 0,1
fi

# 4. Llama-3.1-8B TP1, the same cells, half on each GPU at once (own compile caches: same config hash).
tp1() { export CUDA_VISIBLE_DEVICES=$1 VLLM_CACHE_ROOT=/root/.cache/vllm-gpu$1
        step cal-tp1-gpu$1 330 $EP calibrate $C/tp1-$2.json --out $O/runs/$D-vllm-graphs-tp1-gpu$1-llama8b --gpus $1; }
( tp1 0 a ) & ( tp1 1 b ) & wait

# 5. Llama-3.1-70B fp8 at TP2 (70 GB of fp8 weights over two 80 GB cards), TP passes off.
export CUDA_VISIBLE_DEVICES=0,1
step cal-70b 480 $EP calibrate $C/tp2-70b-fp8.json --out $O/runs/$D-vllm-graphs-fp8-tp2-llama70b --gpus 0,1

# 6. Eager decode step at TP2: vLLM's custom all-reduce vs NCCL; TP1 eager and graphs beside it.
step probe-tp2-eager 150 python3 $C/probe.py tp2-eager 2 0 '{}' $O/probes
step probe-tp2-eager-nccl 150 python3 $C/probe.py tp2-eager-nccl 2 0 '{"disable_custom_all_reduce": true}' $O/probes
( export CUDA_VISIBLE_DEVICES=0; step probe-tp1-eager 150 python3 $C/probe.py tp1-eager 1 0 '{}' $O/probes ) &
( export CUDA_VISIBLE_DEVICES=1; step probe-tp1-graphs 200 python3 $C/probe.py tp1-graphs 1 1 '{}' $O/probes ) &
wait
echo "== DONE $(date -u +%T)" >> $O/pipeline.log
touch $O/DONE
