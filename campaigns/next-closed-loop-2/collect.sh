# Wait until run.sh is DONE or $1 s pass, then pack /tmp/closedloop-next into $OUT/closedloop-next.tgz.
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/closedloop-next/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp -czf "$OUT/closedloop-next.tgz" closedloop-next
grep -E "^[0-9]{2}:[0-9]{2}:[0-9]{2} |rc=" /tmp/closedloop-next/closed_loop.log | tail -n 12
ls /tmp/closedloop-next /tmp/closedloop-next/records/* 2>/dev/null
