# On the 4-GPU machine, from the repository root: copy the tree to /tmp/ep/src, install the carried
# wheels (pydantic), start one detached script per GPU. Logs: /tmp/ep/out/gpuN/log.txt.
set -eu
mkdir -p /tmp/ep/out/gpu0 /tmp/ep/out/gpu1 /tmp/ep/out/gpu2 /tmp/ep/out/gpu3 /tmp/ep/src
tar --exclude=./.vllm --exclude=./.whl --exclude=./.git -cf - . | tar -C /tmp/ep/src -xf -
mkdir -p /tmp/ep/src/traces && cp .traces/*.csv /tmp/ep/src/traces/
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
for g in 0 1 2 3; do
  setsid nohup bash /tmp/ep/src/calibrate/campaigns/h100-x4/gpu$g.sh > /tmp/ep/out/gpu$g/log.txt 2>&1 < /dev/null &
done
sleep 45
tail -n 5 /tmp/ep/out/gpu*/log.txt
