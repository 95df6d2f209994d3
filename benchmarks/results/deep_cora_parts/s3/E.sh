#!/bin/bash
# Sweep E, seeds 0,1: DeeperGCN-28 variants after the DeeperGCN code's ogbn-arxiv recipe (softmax beta 0.1; hidden 128).
source "$(dirname "$0")/common.sh"
$DEEP --models DeeperGCN --depths 28 --residual-scale rezero --beta 0.1 --seeds 0,1 --out $P/E1_deeper28_rezero_beta01.json
$DEEP --models DeeperGCN --depths 28 --residual-scale rezero --hidden 128 --seeds 0,1 --out $P/E2_deeper28_rezero_hidden128.json
date -u
