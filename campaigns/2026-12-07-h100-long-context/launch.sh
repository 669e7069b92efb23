# From the repository root on the one-H100 machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM,
# record the card, start run.sh detached (its own session, so it outlives this call) with a deadline of $1 s.
# Then call collect.sh until DONE.
set -u
C=campaigns/2026-12-07-h100-long-context; O=/tmp/h100lc
bash .vllm/install.sh || exit 1
mkdir -p $O/runs
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.default_limit,power.draw,temperature.gpu,clocks.sm,clocks.max.sm,memory.total,persistence_mode,compute_mode \
  --format=csv | tee $O/nvidia-smi-start.csv
nvidia-smi -q > $O/nvidia-smi-q-start.txt 2>&1
date -u +%FT%TZ > $O/launched
setsid nohup bash $C/run.sh ${1:-900} > $O/run.stdout 2>&1 < /dev/null &
sleep 3; cat $O/pipeline.log
