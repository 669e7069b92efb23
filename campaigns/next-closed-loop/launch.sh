# From the repository root on the one-GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, copy
# the code (src/, pyproject.toml, artifacts/hf_configs) and this campaign to /tmp/ep-root (a later call's re-sync of
# the working tree cannot touch it), remove what a previous launch left, record the card, start run.sh detached
# with a deadline of $1 s. Then call collect.sh until DONE.
set -u
C=campaigns/next-closed-loop; O=/tmp/closedloop; R=/tmp/ep-root
bash .vllm/install.sh || exit 1
rm -rf $O $R/campaign
mkdir -p $O $R/artifacts $R/campaign
cp -r src pyproject.toml $R/ && cp -r artifacts/hf_configs $R/artifacts/ && cp -r $C/traces $C/closed_loop.py $C/run.sh $R/campaign/
git rev-parse HEAD > $O/commit 2>/dev/null || echo "no git on the machine" > $O/commit
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.default_limit,power.draw,temperature.gpu,clocks.sm,clocks.max.sm,memory.total,persistence_mode,compute_mode \
  --format=csv | tee $O/nvidia-smi-start.csv
date -u +%FT%TZ > $O/launched
setsid nohup bash $R/campaign/run.sh ${1:-900} > $O/run.stdout 2>&1 < /dev/null &
sleep 3; cat $O/run.stdout
