# From the repository root on the GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, unpack
# the campaign's source snapshot (.campaign/src.tar, git archive of .campaign/COMMIT) with the traces it replays
# (.campaign/traces), start pipeline.sh detached. Then call x4-tp4-families/collect.sh until $O/DONE exists.
set -u
bash .vllm/install.sh || exit 1
mkdir -p /tmp/ep/src /tmp/ep/out && tar -C /tmp/ep/src -xf .campaign/src.tar && cp .campaign/COMMIT /tmp/ep/out/
cp -r .campaign/traces /tmp/ep/src/shared-traces
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm,memory.total \
  --format=csv | tee /tmp/ep/out/nvidia-smi.csv
setsid nohup bash /tmp/ep/src/calibrate/campaigns/h200-x1/pipeline.sh > /tmp/ep/out/pipeline.stdout 2>&1 < /dev/null &
sleep "${1:-20}"
cat /tmp/ep/out/pipeline.log
