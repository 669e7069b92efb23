# GPU 0 of the second issue-17 lease (make_grids.py says what and why), most important first; one engine per process.
source /tmp/ep/src/calibrate/campaigns/x4-issue17b/env.sh
run_grids 0 hf
