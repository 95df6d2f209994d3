#!/bin/bash
# Final recipe: DeeperGCN-56, seeds 3,4.
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 56 --residual-scale rezero --seeds 3,4 --out $P/G2_deeper56_rezero_s34.json
date -u
