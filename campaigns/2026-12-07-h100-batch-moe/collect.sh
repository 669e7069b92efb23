# Wait until run.sh is DONE or $1 s pass, then pack /tmp/h100bm into $OUT/h100bm.tgz (what comes back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/h100bm/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/h100bm.tgz" h100bm
cat /tmp/h100bm/pipeline.log; ls /tmp/h100bm; wc -l /tmp/h100bm/runs/*/records.jsonl 2>/dev/null
for f in /tmp/h100bm/*.log; do echo "--- $f"; grep -v "Running: 0 reqs" "$f" | tail -n 6 | cut -c1-300; done
