#!/bin/bash
# Cora, 56 layers, 3 seeds, with the configurations chosen on validation at 28 layers (sweep2.sh).
cd /work/main
date -u; uptime
RN=$(cat /tmp/h5/sw2/best_res 2>/dev/null || echo layer); DN=$(cat /tmp/h5/sw2/best_deeper 2>/dev/null || echo layer)
echo "norms: ResGCN/PlainGCN $RN, DeeperGCN $DN"
C="python benchmarks/bench_deep_cora.py --epochs 300 --patience 50 --ends conv --dropout 0.5 --no-plot --no-baseline --depths 56 --seeds 0,1,2"
$C --models ResGCN --norm $RN --out /tmp/h5/sw2/res56_${RN}.json
$C --models PlainGCN --norm $RN --out /tmp/h5/sw2/plain56_${RN}.json
$C --models DeeperGCN --norm $DN --seeds 0 --out /tmp/h5/sw2/deeper56_${DN}.json
date -u; uptime
