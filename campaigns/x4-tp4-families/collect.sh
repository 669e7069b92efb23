# Wait until the pipeline is done or $1 seconds pass, then pack /tmp/ep/out into $OUT/out.tgz.
set -u
deadline=$(( $(date +%s) + ${1:-0} ))
while [ ! -f /tmp/ep/out/DONE ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp/ep -czf "$OUT/out.tgz" --exclude='*.stdout' out
ls -la "$OUT"
cat /tmp/ep/out/pipeline.log
grep -E "cells|ok|error|Error" /tmp/ep/out/ray-campaign.log | grep -v "^\s*$" | tail -n 8 | cut -c1-300
wc -l /tmp/ep/out/runs/*/records.jsonl 2>/dev/null
nvidia-smi --query-gpu=index,power.draw,temperature.gpu,clocks.sm,memory.used --format=csv
