# The lease's work, started detached by launch.sh from the repository root: one grid (one engine) per process,
# in priority order, each under a time cap and all under one deadline ($1 s from now); runs and logs into
# /tmp/h100lc, then DONE. Runs the frozen snapshot of commit 9142137 in .gpu (cwd .gpu, so the moving tree's
# own energy_predict/ is never imported).
set -u
R=$PWD; C=$R/campaigns/2026-12-07-h100-long-context; O=/tmp/h100lc
export PYTHONPATH=/tmp/vllm-site:$R/.gpu CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export VLLM_LOG_STATS_INTERVAL=1  # engines with log_stats (large-batch) log running/waiting/KV use every second
end=$(( $(date +%s) + $1 ))
# runs are named by the card they ran on (the lease asked for an H100; an H200 may come instead)
tag=h100lc; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && tag=h200lc
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
  (cd $R/.gpu && timeout -k 15 $cap python3 -m energy_predict calibrate $C/$g.json \
     --out $O/runs/2026-12-07-$tag-$g --gpus 0 > $O/$g.log 2>&1)
  echo "   $g end $(date -u +%T) rc=$?" >> $O/pipeline.log
  gpu_free
}
if [ "$1" -lt 600 ]; then  # a short lease: one engine (the long-context cells, most valuable first) gets it all
  run_grid long-context $1
  nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
  touch $O/DONE; exit 0
fi
if [ "$1" -lt 1100 ]; then  # a medium lease: two engines, long contexts then large batches and long outputs
  run_grid long-context $(( $1 * 50 / 100 ))
  run_grid large-batch 900
  nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
  touch $O/DONE; exit 0
fi
# caps scale with the deadline (45% / 20% / the rest): each engine costs ~1.5-2.5 min to build before its cells
run_grid long-context $(( $1 * 45 / 100 ))
run_grid long-context-mnbt65536 $(( $1 * 20 / 100 ))
run_grid large-batch 900
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
