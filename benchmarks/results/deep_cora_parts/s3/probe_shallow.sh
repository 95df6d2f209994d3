#!/bin/bash
# Session 3 probes (no lock: each < 15 s CPU): DeeperGCN at depth 2 (encoder, one bare GENConv, one
# res+ block, decoder) on Cora, seeds 0,1,2 -- what the GENConv model reaches when shallow.
cd /work/main
for cfg in "$@"; do
  echo "== $cfg"
  /usr/bin/time -f "%U s user" timeout 100 python benchmarks/bench_deep_cora.py --threads 1 --no-baseline --no-plot --models DeeperGCN --depths 2 --seeds 0,1,2 --epochs 300 --patience 50 --input-dropout 0.5 --norm layer --out /tmp/h5s3_probe.json $cfg 2>&1 | grep "mean val\|user\|  0 \|  1 \|  2 "
done
