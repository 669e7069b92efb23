# Sourced by this campaign's gpuN.sh on the GPU machine: the TP campaign's environment and `step` function
# (calibrate/campaigns/h100-x2-tp/env.sh), this campaign's folder, and `till`: a step whose timeout is what is left
# before the lease's deadline (written by launch.sh), so every GPU's last journal is collected in time.
source /tmp/ep/src/calibrate/campaigns/h100-x2-tp/env.sh
C=calibrate/campaigns/x4-issue17; T=/tmp/ep/src/shared-traces
till() {
  local left=$(( $(cat $O/DEADLINE) - $(date +%s) ))
  [ $left -gt 30 ] || { echo "   $1 skipped: the lease's deadline" >> $O/pipeline.log; return; }
  step "$1" $left "${@:2}"
}
