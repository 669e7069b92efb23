# The lease's second block (make_grids.py's EXTRA), run on the same machine after gpu0..3.sh were DONE, as it ran
# there: a fresh 420 s deadline, one engine per GPU, then collect.sh.
rm -f /tmp/ep/out/DONE-gpu*; echo "== extra block $(date -u +%T)" >> /tmp/ep/out/pipeline.log
echo $(( $(date +%s) + 420 )) > /tmp/ep/out/DEADLINE
n=0
for name in vllm-spec-1b-k4-a30 vllm-spec-1b-k4-a80 vllm-spec-1b-k3-a100 vllm-spec-1b-k2-a60; do
  printf 'source /tmp/ep/src/calibrate/campaigns/x4-issue17b/env.sh\nrun_grids %s %s\n' $n $name > /tmp/ep/gpu$n-extra.sh
  setsid nohup bash /tmp/ep/gpu$n-extra.sh > /tmp/ep/out/gpu$n-extra.stdout 2>&1 < /dev/null &
  n=$((n + 1))
done
