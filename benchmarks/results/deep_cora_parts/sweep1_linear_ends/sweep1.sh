#!/bin/bash
# ResGCN-28 hyperparameter sweep on Cora, selected on mean validation accuracy (2 seeds)
cd /work/main
C="python benchmarks/bench_deep_cora.py --epochs 300 --patience 100 --seeds 0,1 --depths 28 --no-baseline --no-plot"
$C --models ResGCN --dropout 0.2 --out /tmp/h5/sw1/res_d02.json
$C --models ResGCN --dropout 0.5 --out /tmp/h5/sw1/res_d05.json
$C --models ResGCN --dropout 0.5 --weight-decay 5e-3 --out /tmp/h5/sw1/res_d05_wd5e3.json
$C --models ResGCN --dropout 0.5 --norm layer --out /tmp/h5/sw1/res_d05_ln.json
$C --models ResPlusGCN --dropout 0.5 --out /tmp/h5/sw1/resplus_d05.json
$C --models ResGCN --dropout 0.5 --norm none --out /tmp/h5/sw1/res_d05_nonorm.json
