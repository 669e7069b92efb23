# On the 1-GPU machine, from the repository root (same layout as the 4-GPU campaign, one script).
set -eu
mkdir -p /tmp/ep/out/gpu0 /tmp/ep/src
tar --exclude=./.vllm --exclude=./.whl --exclude=./.git --exclude=./.traces -cf - . | tar -C /tmp/ep/src -xf -
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
mkdir -p /tmp/vllm-parts && cp .vllm/parts/part-0* /tmp/vllm-parts/ 2>/dev/null || true
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
setsid nohup bash /tmp/ep/src/calibrate/campaigns/h100-x1/run.sh > /tmp/ep/out/gpu0/log.txt 2>&1 < /dev/null &
sleep 20; tail -n 3 /tmp/ep/out/gpu0/log.txt
