# Shared settings of the session-4 Cora depth runs (sourced by the part scripts): session 3's
# DeeperGCN recipe (res+ GENConv softmax, LayerNorm, ReZero, GCN ends, hidden 64); each probe
# adds its own flags after $DEEP (a later flag overrides an earlier one).
cd /work/main
P=benchmarks/results/deep_cora_parts/s4
B="python benchmarks/bench_deep_cora.py --threads 1 --no-plot --epochs 300 --patience 50 --input-dropout 0.5 --wd-mode matrices"
DEEP="$B --no-baseline --ends gcn --norm layer --dropout 0.5 --aggr softmax --models DeeperGCN --residual-scale rezero"
date -u; uptime
