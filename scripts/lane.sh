#!/usr/bin/env bash
# Run one test lane and keep its wall time: `scripts/lane.sh NAME COMMAND...` runs COMMAND, prints
# "lane NAME: N s (exit E)" and appends that line to $LANE_TIMES (default .lane-times), which `make test` prints
# at its end (so CI's log closes with every lane's time). Exits with COMMAND's status.
set -u
name=$1
shift
start=$(date +%s)
"$@"
status=$?
line="lane $name: $(( $(date +%s) - start )) s (exit $status)"
echo "$line"
echo "$line" >> "${LANE_TIMES:-.lane-times}"
exit $status
