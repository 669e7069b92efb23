# From the repository root on the GPU machine: x4-issue17/launch.sh for this campaign's gpu0..3.sh ($1: the deadline
# in s). Then call ../x4-issue17/collect.sh until DONE, and extra.sh for the second block.
exec bash campaigns/x4-issue17/launch.sh "${1:-690}" campaigns/x4-issue17b
