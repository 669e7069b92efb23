# The lease's work, started detached by launch.sh: the first campaign's closed_loop.py with this campaign's order
# (cap 256 at 512-token prompts, then cap 64 at 256, 512 and 1,024 on the longer files), under one deadline ($1 s
# from now, less a margin); records into /tmp/closedloop-next/records, its log beside them, then DONE.
set -u
R=/tmp/ep-root; C=$R/campaign; O=/tmp/closedloop-next
export PYTHONPATH=/tmp/vllm-site:$R/src:$C CUDA_DEVICE_ORDER=PCI_BUS_ID PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
(cd $R && timeout -k 15 $(( $1 - 10 )) python3 -c "
import closed_loop as c
from pathlib import Path
c.ORDER = ((256, ('in512',)), (64, ('in256', 'in512', 'in1024')))
c.main(Path('$C/traces'), Path('$O/records'), $(( $1 - 40 )))" > $O/closed_loop.log 2>&1)
echo "closed_loop.py rc=$?" >> $O/closed_loop.log
nvidia-smi --query-gpu=index,name,uuid,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv > $O/nvidia-smi-end.csv
touch $O/DONE
