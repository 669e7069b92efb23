# Started detached by launch.sh: one grid (one engine) per process, in order, all under one deadline ($1 s from
# now); grids are the remaining arguments, or by the card: an H100 runs the MoE then the large-batch grid, an H200
# its repeats. Runs and logs into /tmp/next26, then DONE.
set -u
R=/tmp/ep-root; C=$R/campaign; O=/tmp/next26
export PYTHONPATH=/tmp/vllm-site:$R/src CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export VLLM_LOG_STATS_INTERVAL=1 VLLM_WORKER_MULTIPROC_METHOD=spawn
end=$(( $(date +%s) + $1 )); shift
tag=h100; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && tag=h200
grids=("$@")
if [ ${#grids[@]} -eq 0 ]; then
  if [ $tag = h200 ]; then grids=(h200-repeats-qwen15moe h200-repeats-llama); else grids=(moe-moonlight-softmax large-batch-rest); fi
fi
gpu_free() {
  for _ in $(seq 40); do
    [ -z "$(nvidia-smi --query-compute-apps=pid --format=csv,noheader)" ] && return 0; sleep 1
  done
  echo "   GPU still held by: $(nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader)" >> $O/pipeline.log
}
for g in "${grids[@]}"; do
  left=$(( end - $(date +%s) ))
  [ "$left" -gt 150 ] || { echo "   $g skipped: ${left}s left" >> $O/pipeline.log; continue; }
  echo "== $g start $(date -u +%T) cap ${left}s" >> $O/pipeline.log
  (cd $R && timeout -k 15 $left python3 -m energy_predict calibrate $C/$g.json \
     --out $O/runs/2026-12-xx-$tag-$g --devices 0 > $O/$g.log 2>&1)
  echo "   $g end $(date -u +%T) rc=$?" >> $O/pipeline.log
  gpu_free
done
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
