# Wait until run.sh is DONE or $1 s pass, then pack /tmp/next26 into $OUT/next26.tgz (what comes back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/next26/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/next26.tgz" next26
cat /tmp/next26/pipeline.log; wc -l /tmp/next26/runs/*/records.jsonl 2>/dev/null
for f in /tmp/next26/*.log; do echo "--- $f"; grep -E "error|records in|KV cache size" "$f" | tail -n 4 | cut -c1-300; done
