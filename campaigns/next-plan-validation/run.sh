# The lease's work, started detached by launch.sh: one configuration = one engine = one `replay` process, in order,
# each under a cap and all under one deadline ($1 s from now); records into /tmp/planval/replays, logs beside them,
# then DONE. Runs the code copied to /tmp/ep-root (src layout, cwd there, so no other energy_predict is imported).
set -u
R=/tmp/ep-root; C=$R/campaign; O=/tmp/planval
export PYTHONPATH=/tmp/vllm-site:$R/src CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
N=330 RATE=5.53 REPS=1  # ~60 s of arrivals; one measured run (the online replays of earlier leases repeated within 1%)
end=$(( $(date +%s) + $1 ))
gpu_free() {  # wait until no process holds the GPU (a stopped engine's workers), at most 40 s
  for _ in $(seq 40); do
    [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader)" ] && return 0; sleep 1
  done
  echo "   GPU still held by: $(nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader)" >> $O/pipeline.log
}
replay() {  # config name, cap in s
  local c=$1 cap=$2 left=$(( end - $(date +%s) ))
  [ "$cap" -lt "$left" ] || cap=$left
  [ "$cap" -gt 170 ] || { echo "   $c skipped: ${cap}s left" >> $O/pipeline.log; return; }
  echo "== $c start $(date -u +%T) cap ${cap}s" >> $O/pipeline.log
  # timeout puts itself in a new process group and on expiry signals the whole group (vLLM's engine core too)
  (cd $R && timeout -k 15 $cap python3 -m energy_predict replay $C/azure-conv-330.csv --backend vllm \
     --serving $C/configs/$c.json --modes online --rates $RATE --n $N --seed 0 --repetitions $REPS \
     --out $O/replays --devices 0 > $O/$c.log 2>&1)
  echo "   $c end $(date -u +%T) rc=$?" >> $O/pipeline.log
  gpu_free
}
# each: engine start ~70-120 s, idle windows 6 s, offline warm-up ~20 s, ~60 s of arrivals and the drain
# issue 26's DeepSeek-family cells (Moonlight with a softmax router, its grid from campaigns/next-issue26/), one
# engine, calibrate's own process; skipped under 200 s
moonlight() {
  local left=$(( end - $(date +%s) ))
  [ "$left" -gt 200 ] || { echo "   moe-moonlight-softmax skipped: ${left}s left" >> $O/pipeline.log; return; }
  echo "== moe-moonlight-softmax start $(date -u +%T) cap ${left}s" >> $O/pipeline.log
  (cd $R && VLLM_LOG_STATS_INTERVAL=1 timeout -k 15 $left python3 -m energy_predict calibrate \
     $C/moe-moonlight-softmax.json --out $O/runs/moe-moonlight-softmax --devices 0 > $O/moe-moonlight-softmax.log 2>&1)
  echo "   moe-moonlight-softmax end $(date -u +%T) rc=$?" >> $O/pipeline.log
  gpu_free
}
# a second argument "moonlight-first" (a lease too short for the five) runs the Moonlight grid before the replays
[ "${2:-}" = moonlight-first ] && moonlight
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  # on an H200 the model has not measured speculative decoding, so the planner refuses that row: it runs last
  replay default 260; replay eager 260; replay fp8 260; replay cap8 260; replay spec-k4-a0.7 320
else
  replay default 260
  replay eager 260  # the planner's top once engines are an axis of its search: first after the default
  replay fp8 260
  replay spec-k4-a0.7 320  # two models to build: the longest start
  replay cap8 260
fi
[ "${2:-}" = moonlight-first ] || moonlight  # the time left after the five
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
