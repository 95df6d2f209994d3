#!/bin/bash
# Final recipe part b: DeeperGCN-28 (seeds 2-4; 0-1 are A1) and DeeperGCN-56.
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 28 --residual-scale rezero --seeds 2,3,4 --out $P/F_deeper28_rezero_s234.json
$DEEP --models DeeperGCN --depths 56 --residual-scale rezero --seeds 0,1,2,3,4 --out $P/F_deeper56_rezero.json
date -u
