# Wait until the pipeline is done or $1 seconds pass, then pack /tmp/ep/out into $OUT/out.tgz.
set -u
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/ep/out/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp/ep -czf "$OUT/out.tgz" out
ls -la "$OUT"
cat /tmp/ep/out/pipeline.log
for f in /tmp/ep/out/cal-*.log; do echo "-- $f"; grep -E "^calibrate" $f | tail -n 2; done
grep -h PROBE /tmp/ep/out/probe-*.log 2>/dev/null | cut -c1-400
nvidia-smi --query-gpu=index,power.draw,temperature.gpu,clocks.sm,memory.used --format=csv
