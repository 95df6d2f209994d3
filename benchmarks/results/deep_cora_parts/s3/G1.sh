#!/bin/bash
# Final recipe: DeeperGCN-56, the seeds G2 may not reach within its 600 s (4, 3); merge skips duplicates.
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 56 --residual-scale rezero --seeds 4,3 --out $P/G1_deeper56_rezero_s43.json
date -u
