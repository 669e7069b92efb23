# GPU 1 of the second issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17b/env.sh
run_grids 1 baseline vllm-spec-1b-k3-a60
