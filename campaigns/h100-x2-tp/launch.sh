# From the repository root on the GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM,
# unpack the campaign's source snapshot (.campaign/src.tar, git archive of the commit in .campaign/COMMIT),
# start pipeline.sh detached. Then call collect.sh until $O/DONE exists.
set -u
bash .vllm/install.sh || exit 1
mkdir -p /tmp/ep/src /tmp/ep/out && tar -C /tmp/ep/src -xf .campaign/src.tar && cp .campaign/COMMIT /tmp/ep/out/
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv \
  | tee /tmp/ep/out/nvidia-smi.csv
nvidia-smi topo -m > /tmp/ep/out/topo.txt 2>&1; cat /tmp/ep/out/topo.txt
nvidia-smi nvlink -s > /tmp/ep/out/nvlink.txt 2>&1; head -n 12 /tmp/ep/out/nvlink.txt
env | grep -E "NCCL|SYMM|NVSHMEM|VLLM" | sort | tee /tmp/ep/out/env.txt
setsid nohup bash /tmp/ep/src/calibrate/campaigns/h100-x2-tp/pipeline.sh > /tmp/ep/out/pipeline.stdout 2>&1 < /dev/null &
sleep "${1:-20}"
cat /tmp/ep/out/pipeline.log
