#!/bin/bash
# Session 3 sweep B (lock bench): ResGCN-56, seeds 0,1, choice of norm / residual scale on validation.
cd /work/main
P=benchmarks/results/deep_cora_parts/s3
C="python benchmarks/bench_deep_cora.py --threads 1 --no-baseline --no-plot --epochs 300 --patience 50 --dropout 0.5 --input-dropout 0.5 --wd-mode matrices --seeds 0,1 --ends conv --models ResGCN --depths 56"
flock /work/bench.lock timeout 600 $C --norm none --residual-scale rezero --out $P/B1_res56_none_rezero.json
flock /work/bench.lock timeout 600 $C --norm layer --residual-scale rezero --out $P/B2_res56_layer_rezero.json
flock /work/bench.lock timeout 600 $C --norm none --residual-scale inv_sqrt_depth --out $P/B3_res56_none_invsqrt.json
