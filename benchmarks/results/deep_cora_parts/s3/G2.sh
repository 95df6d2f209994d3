#!/bin/bash
# Final recipe: DeeperGCN-56, seeds 0-4 in order (the first lock slot to come free runs this; the
# 600 s limit keeps the seeds that finish, the bench writes its JSON after every seed).
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 56 --residual-scale rezero --seeds 0,1,2,3,4 --out $P/G2_deeper56_rezero.json
date -u
