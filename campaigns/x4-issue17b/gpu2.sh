# GPU 2 of the second issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17b/env.sh
run_grids 2 vllm-spec-1b-k4-a60 vllm-spec-1b-k2 vllm-spec-1b-k5
