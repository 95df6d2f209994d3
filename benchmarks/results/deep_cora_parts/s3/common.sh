# Shared settings of the session-3 Cora depth runs (sourced by the part scripts).
cd /work/main
P=benchmarks/results/deep_cora_parts/s3
B="python benchmarks/bench_deep_cora.py --threads 1 --no-plot --epochs 300 --patience 50 --input-dropout 0.5 --wd-mode matrices"
RES="$B --no-baseline --ends conv --norm none --dropout 0.5"                       # ResGCN / PlainGCN (GCN blocks, GCN ends)
DEEP="$B --no-baseline --ends gcn --norm layer --dropout 0.5 --aggr softmax"      # DeeperGCN (res+ GENConv blocks, GCN ends)
date -u; uptime
