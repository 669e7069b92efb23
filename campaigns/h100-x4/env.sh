# Sourced by each per-GPU script: one process per GPU, CUDA order = NVML order.
export CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=/tmp/site:/tmp/ep/src
W=/tmp/ep
CAMPAIGN=calibrate/campaigns/h100-x4
EP="python3 -m energy_predict"
T=/tmp/ep/src/traces
cd /tmp/ep/src || exit 1
wait_for_vllm() {
  while [ ! -f $W/vllm-ready ]; do sleep 2; done
  export PYTHONPATH=/tmp/vllm-site:$PYTHONPATH
}
