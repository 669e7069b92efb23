# Wait until every GPU's script is done or $1 seconds pass, then pack /tmp/ep/out into $OUT/out.tgz.
set -u
deadline=$(( $(date +%s) + ${1:-0} ))
while [ "$(ls /tmp/ep/out/DONE-gpu* 2>/dev/null | wc -l)" -lt 4 ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
tar -C /tmp/ep -czf "$OUT/out.tgz" --exclude='*.stdout' out
cat /tmp/ep/out/pipeline.log; wc -l /tmp/ep/out/runs/*/records.jsonl 2>/dev/null; ls /tmp/ep/out/replays 2>/dev/null
grep -h "error\|Error" /tmp/ep/out/*.log 2>/dev/null | grep -v "^\s*$" | tail -n 6 | cut -c1-300
nvidia-smi --query-gpu=index,power.draw,memory.used --format=csv,noheader
