# Wait until run.sh is DONE or $1 s pass, then pack /tmp/x1sl into $OUT/out.tgz (at most 8 files come back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/x1sl/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/out.tgz" x1sl
cat /tmp/x1sl/pipeline.log; wc -l /tmp/x1sl/runs/*/records.jsonl 2>/dev/null; tail -n 1 /tmp/x1sl/*.log
