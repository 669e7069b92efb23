# Wait until the script is done or $1 seconds pass (then stop it if $2 = stop); pack the output into $OUT.
set -u
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/ep/out/gpu0/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
[ "${2:-}" = stop ] && pkill -f "energy_predict" ; sleep 1
tar -C /tmp/ep/out -czf "$OUT/gpu0.tgz" gpu0
grep -E "^calibrate" /tmp/ep/out/gpu0/log.txt | tail -n 3
