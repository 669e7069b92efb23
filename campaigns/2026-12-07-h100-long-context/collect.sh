# Wait until run.sh is DONE or $1 s pass, then pack /tmp/h100lc into $OUT/h100lc.tgz (what comes back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/h100lc/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/h100lc.tgz" h100lc
cat /tmp/h100lc/pipeline.log; ls /tmp/h100lc; wc -l /tmp/h100lc/runs/*/records.jsonl 2>/dev/null
for f in /tmp/h100lc/*.log; do echo "--- $f"; grep -v "Running: 0 reqs" "$f" | tail -n 4 | cut -c1-300; done
