# The lease's work, started detached by launch.sh: one grid (one engine) per process, in order, each under a cap
# and all under one deadline ($1 s from now); runs and logs into /tmp/h100bm, then DONE. Runs the code copied to
# /tmp/ep-root (src layout, cwd there, so no other energy_predict is imported).
set -u
R=/tmp/ep-root; C=$R/campaign; O=/tmp/h100bm
export PYTHONPATH=/tmp/vllm-site:$R/src CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export VLLM_LOG_STATS_INTERVAL=1  # engines with log_stats (large-batch) log running/waiting/KV use every second
end=$(( $(date +%s) + $1 ))
tag=h100bm; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && tag=h200bm
gpu_free() {  # wait until no process holds the GPU (a stopped engine's workers), at most 40 s
  for _ in $(seq 40); do
    [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader)" ] && return 0; sleep 1
  done
  echo "   GPU still held by: $(nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader)" >> $O/pipeline.log
}
run_grid() {  # grid name, cap in s
  local g=$1 cap=$2 left=$(( end - $(date +%s) ))
  [ "$cap" -lt "$left" ] || cap=$left
  [ "$cap" -gt 150 ] || { echo "   $g skipped: ${cap}s left" >> $O/pipeline.log; return; }
  echo "== $g start $(date -u +%T) cap ${cap}s" >> $O/pipeline.log
  # timeout puts itself in a new process group and on expiry signals the whole group (vLLM's engine core too)
  (cd $R && timeout -k 15 $cap python3 -m energy_predict calibrate $C/$g.json \
     --out $O/runs/2026-12-07-$tag-$g --devices 0 > $O/$g.log 2>&1)
  echo "   $g end $(date -u +%T) rc=$?" >> $O/pipeline.log
  gpu_free
}
# the MoE engines first (each ~3-4 min: build + 8 short cells), then the large-batch engine takes what is left
run_grid moe-qwen15 330
run_grid moe-moonlight 360
run_grid large-batch 900
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
