# From the repository root on a one-GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, record
# the card, start run.sh detached with a deadline of $1 s. Then call collect.sh until DONE.
set -u
bash .vllm/install.sh || exit 1
mkdir -p /tmp/x1sl/runs && cp .campaign/COMMIT /tmp/x1sl/
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm,memory.total \
  --format=csv | tee /tmp/x1sl/nvidia-smi.csv
setsid nohup bash calibrate/campaigns/x1-spec-lengths/run.sh ${1:-540} > /tmp/x1sl/run.stdout 2>&1 < /dev/null &
sleep 5; cat /tmp/x1sl/pipeline.log
