#!/bin/bash
# Session 3 sweep A (lock bench2): DeeperGCN-28, seeds 0,1, choice of aggregation on validation.
cd /work/main
P=benchmarks/results/deep_cora_parts/s3
C="python benchmarks/bench_deep_cora.py --threads 1 --no-baseline --no-plot --epochs 300 --patience 50 --dropout 0.5 --input-dropout 0.5 --norm layer --wd-mode matrices --seeds 0,1"
flock /work/bench2.lock timeout 600 $C --models DeeperGCN --depths 28 --ends gcn --residual-scale rezero --aggr softmax --out $P/A1_deeper28_gcnends_rezero_softmax.json
flock /work/bench2.lock timeout 600 $C --models DeeperGCN --depths 28 --ends gcn --residual-scale rezero --aggr powermean --out $P/A2_deeper28_gcnends_rezero_powermean.json
flock /work/bench2.lock timeout 600 $C --models DeeperGCN --depths 28 --ends gcn --residual-scale inv_sqrt_depth --aggr softmax --out $P/A3_deeper28_gcnends_invsqrt_softmax.json
