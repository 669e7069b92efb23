# Wait until run.sh is DONE or $1 s pass, then pack /tmp/planval into $OUT/planval.tgz (what comes back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/planval/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/planval.tgz" planval
cat /tmp/planval/pipeline.log; ls /tmp/planval /tmp/planval/replays
for f in /tmp/planval/*.log; do echo "--- $f"; grep -v "Running: 0 reqs" "$f" | tail -n 6 | cut -c1-300; done
