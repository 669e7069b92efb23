# Sourced by this campaign's scripts on the GPU machine: the TP campaign's environment and its `step` function
# (campaigns/h100-x2-tp/env.sh: multicast switches as the machine sets them, CUDA order = NVML order, so
# Ray's GPU ids, CUDA's and NVML's indices agree), with Ray's wheels on the path and this campaign's folder.
source /tmp/ep/src/campaigns/h100-x2-tp/env.sh
export PYTHONPATH=/tmp/vllm-site:/tmp/ray-site:/tmp/ep/src RAY_DEDUP_LOGS=0
C=campaigns/x4-tp4-families
