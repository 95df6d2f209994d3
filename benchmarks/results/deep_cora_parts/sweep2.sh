#!/bin/bash
# Cora, 28 layers: choose the norm of ResGCN and DeeperGCN on mean validation accuracy (seeds 0, 1),
# then complete the chosen configurations to 3 seeds and run PlainGCN-28 with ResGCN's configuration.
cd /work/main
date -u; uptime
C="python benchmarks/bench_deep_cora.py --epochs 300 --patience 50 --ends conv --dropout 0.5 --no-plot"
$C --models "" --seeds 0,1,2 --out /tmp/h5/sw2/gcn.json | grep -v "^ *GCN-2:"
for norm in none layer; do
  $C --no-baseline --models ResGCN --depths 28 --seeds 0,1 --norm $norm --out /tmp/h5/sw2/res28_$norm.json
  $C --no-baseline --models DeeperGCN --depths 28 --seeds 0,1 --norm $norm --out /tmp/h5/sw2/deeper28_$norm.json
done
python - <<'PY'
import json
best = {}
for model, prefix in (("ResGCN", "res28"), ("DeeperGCN", "deeper28")):
    scores = {n: json.load(open(f"/tmp/h5/sw2/{prefix}_{n}.json"))["results"][f"{model}-28"]["val"] for n in ("none", "layer")}
    best[model] = max(scores, key=scores.get)
    print(model, "mean val by norm", scores, "->", best[model])
json.dump(best, open("/tmp/h5/sw2/best.json", "w"))
open("/tmp/h5/sw2/best_res", "w").write(best["ResGCN"])
open("/tmp/h5/sw2/best_deeper", "w").write(best["DeeperGCN"])
PY
RN=$(cat /tmp/h5/sw2/best_res); DN=$(cat /tmp/h5/sw2/best_deeper)
$C --no-baseline --models ResGCN --depths 28 --seeds 2 --norm $RN --out /tmp/h5/sw2/res28_${RN}_s2.json
$C --no-baseline --models DeeperGCN --depths 28 --seeds 2 --norm $DN --out /tmp/h5/sw2/deeper28_${DN}_s2.json
$C --no-baseline --models PlainGCN --depths 28 --seeds 0,1,2 --norm $RN --out /tmp/h5/sw2/plain28_${RN}.json
date -u; uptime
