# Wait until run.sh is DONE or $1 s pass, then pack /tmp/closedloop into $OUT/closedloop.tgz (what comes back).
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/closedloop/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/closedloop.tgz" closedloop
grep -v "Running: 0 reqs" /tmp/closedloop/closed_loop.log | grep -v "^\s*$" | tail -n 25 | cut -c1-300
ls /tmp/closedloop /tmp/closedloop/records/* 2>/dev/null
