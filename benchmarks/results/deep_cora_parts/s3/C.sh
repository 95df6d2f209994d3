#!/bin/bash
# Sweep C, seeds 0,1: the alternatives to the ReZero recipe (fixed alpha = 1/sqrt(depth); block dropout 0.2).
source "$(dirname "$0")/common.sh"
$RES --models ResGCN --depths 56 --residual-scale inv_sqrt_depth --seeds 0,1 --out $P/C1_res56_none_invsqrt.json
$RES --models ResGCN --depths 56 --residual-scale rezero --dropout 0.2 --seeds 0,1 --out $P/C2_res56_none_rezero_drop02.json
$DEEP --models DeeperGCN --depths 28 --residual-scale inv_sqrt_depth --seeds 0,1 --out $P/C3_deeper28_invsqrt.json
$DEEP --models DeeperGCN --depths 28 --residual-scale rezero --dropout 0.2 --seeds 0,1 --out $P/C4_deeper28_rezero_drop02.json
date -u
