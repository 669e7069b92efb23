# The lease's work, started detached by launch.sh: closed_loop.py under one deadline ($1 s from now, less a margin
# for the engine's shutdown), records into /tmp/closedloop/records, its log beside them, then DONE.
set -u
R=/tmp/ep-root; C=$R/campaign; O=/tmp/closedloop
export PYTHONPATH=/tmp/vllm-site:$R/src CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
(cd $R && timeout -k 15 $(( $1 - 10 )) python3 $C/closed_loop.py $C/traces $O/records $(( $1 - 40 )) > $O/closed_loop.log 2>&1)
echo "closed_loop.py rc=$?" >> $O/closed_loop.log
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
