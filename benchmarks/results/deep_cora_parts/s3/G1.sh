#!/bin/bash
# Final recipe: DeeperGCN-56, seeds 0,1,2 (F1b's DeeperGCN-56 part was cut by its time limit; its log keeps seeds 0,1).
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 56 --residual-scale rezero --seeds 0,1,2 --out $P/G1_deeper56_rezero_s012.json
date -u
