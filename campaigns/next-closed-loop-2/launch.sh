# From the repository root on the one-GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, copy
# the code (src/, pyproject.toml, artifacts/hf_configs), the first campaign's closed_loop.py and this campaign's
# traces to /tmp/ep-root, record the card, start run.sh detached with a deadline of $1 s. Then collect.sh until DONE.
set -u
C=campaigns/next-closed-loop-2; O=/tmp/closedloop-next; R=/tmp/ep-root
bash .vllm/install.sh || exit 1
rm -rf $O $R/campaign
mkdir -p $O $R/artifacts $R/campaign
cp -r src pyproject.toml $R/ && cp -r artifacts/hf_configs $R/artifacts/ \
  && cp -r $C/traces $C/run.sh campaigns/next-closed-loop/closed_loop.py $R/campaign/
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.default_limit,power.draw,temperature.gpu,clocks.sm,clocks.max.sm,memory.total,persistence_mode,compute_mode \
  --format=csv | tee $O/nvidia-smi-start.csv
date -u +%FT%TZ > $O/launched
setsid nohup bash $R/campaign/run.sh ${1:-900} > $O/run.stdout 2>&1 < /dev/null &
sleep 3; cat $O/run.stdout
