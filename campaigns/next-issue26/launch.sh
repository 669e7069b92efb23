# From the repository root on the one-GPU machine, after the vLLM parts are in /tmp/vllm-parts: install vLLM, copy
# the code and this campaign to /tmp/ep-root (a later call's re-sync cannot touch them), record the card, start
# run.sh detached with a deadline of $1 s over the grids named after it (default: by the card, see run.sh).
set -u
C=campaigns/next-issue26; O=/tmp/next26; R=/tmp/ep-root
bash .vllm/install.sh || exit 1
rm -rf $O; mkdir -p $O/runs $R/artifacts $R/campaign   # no stale DONE from an earlier launch
cp -r src pyproject.toml $R/ && cp -r artifacts/hf_configs $R/artifacts/ && cp $C/*.json $C/run.sh $R/campaign/
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.default_limit,power.draw,temperature.gpu,clocks.sm,clocks.max.sm,memory.total,persistence_mode,compute_mode \
  --format=csv | tee $O/nvidia-smi-start.csv
nvidia-smi -q > $O/nvidia-smi-q-start.txt 2>&1
date -u +%FT%TZ > $O/launched
d=$1; shift
setsid nohup bash $R/campaign/run.sh $d "$@" > $O/run.stdout 2>&1 < /dev/null &
sleep 3; cat $O/pipeline.log
