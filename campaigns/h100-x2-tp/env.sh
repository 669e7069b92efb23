# Sourced by the TP campaign's scripts. CUDA order = NVML order, so --gpus and CUDA_VISIBLE_DEVICES agree.
export CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# NVLink multicast stays off (the machine's rule); these are the values it sets, repeated in case a step resets them.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# vLLM's "auto" FlashInfer all-reduce backend tries MNNVL first, which creates a multicast object
# (cuMulticastCreate, forbidden here); trtllm is what auto falls back to on one node, so force it.
export VLLM_FLASHINFER_ALLREDUCE_BACKEND=trtllm
export PYTHONPATH=/tmp/vllm-site:/tmp/ep/src
W=/tmp/ep; O=$W/out; C=calibrate/campaigns/h100-x2-tp; EP="python3 -m energy_predict"
D=2026-11-27
cd /tmp/ep/src || exit 1

# step NAME TIMEOUT_S CMD...: run CMD in its own process group with a deadline, log to $O/NAME.log,
# then end that group (vLLM's TP workers with it) and wait for the GPUs' memory to come back.
step() {
  local name=$1 t=$2; shift 2
  echo "== $name start $(date -u +%T) timeout ${t}s" >> $O/pipeline.log
  setsid "$@" > $O/$name.log 2>&1 &
  local pid=$! end=$((SECONDS + t))
  while kill -0 $pid 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 2; done
  if kill -0 $pid 2>/dev/null; then
    echo "   $name TIMED OUT" >> $O/pipeline.log; kill -TERM -- -$pid 2>/dev/null; sleep 3
  fi
  kill -KILL -- -$pid 2>/dev/null
  wait $pid 2>/dev/null; local rc=$?
  for _ in $(seq 30); do
    used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | sort -n | tail -1)
    [ "${used:-0}" -lt 2000 ] && break; sleep 1
  done
  echo "   $name end $(date -u +%T) rc=$rc" >> $O/pipeline.log
}
