# From the repository root on the GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, unpack
# the source snapshot (.campaign/src.tar of .campaign/COMMIT) and traces (.campaign/traces), set the deadline
# ($1 s from now: no step runs past it), start gpu0..3.sh detached. Then call collect.sh until DONE.
set -u
bash .vllm/install.sh || exit 1
mkdir -p /tmp/ep/src /tmp/ep/out/runs && tar -C /tmp/ep/src -xf .campaign/src.tar && cp .campaign/COMMIT /tmp/ep/out/
cp -r .campaign/traces /tmp/ep/src/shared-traces
echo $(( $(date +%s) + ${1:-690} )) > /tmp/ep/out/DEADLINE
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm,memory.total \
  --format=csv | tee /tmp/ep/out/nvidia-smi.csv
for n in 0 1 2 3; do
  setsid nohup bash /tmp/ep/src/calibrate/campaigns/x4-issue17/gpu$n.sh > /tmp/ep/out/gpu$n.stdout 2>&1 < /dev/null &
done
sleep 15; cat /tmp/ep/out/pipeline.log
