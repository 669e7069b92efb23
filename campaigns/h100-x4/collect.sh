# Wait until every GPU script is done or $1 seconds pass, then pack each GPU's output into $OUT.
set -u
deadline=$(( $(date +%s) + ${1:-0} ))
while [ "$(ls /tmp/ep/out/gpu*/DONE 2>/dev/null | wc -l)" -lt 4 ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
for g in 0 1 2 3; do tar -C /tmp/ep/out -czf "$OUT/gpu$g.tgz" "gpu$g" 2>/dev/null; done
nvidia-smi --query-gpu=index,power.draw,temperature.gpu,clocks.sm,memory.used --format=csv
for g in 0 1 2 3; do echo "== gpu$g $(ls /tmp/ep/out/gpu$g/DONE 2>/dev/null)"; grep -E "^(calibrat|replay|records|hf-|vllm-)" /tmp/ep/out/gpu$g/log.txt | tail -n 3; done
