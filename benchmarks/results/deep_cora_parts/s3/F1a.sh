#!/bin/bash
# Final recipe (ReZero, chosen on validation in A1/B1), part a: GCN-2, ResGCN-28/56, PlainGCN-28/56.
source "$(dirname "$0")/common.sh"
$B --models GCN --depths 2 --seeds 0,1,2,3,4 --out $P/F_gcn2.json  # baseline only (its own recipe: wd 5e-4 on all, dropout 0.5)
$RES --models ResGCN --depths 28 --residual-scale rezero --seeds 0,1,2,3,4 --out $P/F_res28_none_rezero.json
$RES --models ResGCN --depths 56 --residual-scale rezero --seeds 2,3,4 --out $P/F_res56_none_rezero_s234.json
$RES --models PlainGCN --depths 28,56 --seeds 0,1,2,3,4 --out $P/F_plain_none.json
date -u
