"""PyTorch Geometric Temporal models wired into the same encoder-decoder as gnnkit's, for the
side-by-side benchmarks. Nothing here re-implements PyGT: the cells are PyGT's own classes.

PyGT's package ``__init__`` imports every module, and one of them (EvolveGCN-O) needs
``torch_sparse``. When ``torch_sparse`` is absent, the three modules used here (which do not
need it) are loaded from PyGT's installed files directly; ``PYGT_IMPORT`` says which way.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

PYGT_IMPORT = "not installed"
GConvGRU = GConvLSTM = PyGTDCRNN = None


def _load_modules():
    global PYGT_IMPORT, GConvGRU, GConvLSTM, PyGTDCRNN
    try:
        from torch_geometric_temporal.nn.recurrent import DCRNN, GConvGRU as G, GConvLSTM as L

        GConvGRU, GConvLSTM, PyGTDCRNN = G, L, DCRNN
        PYGT_IMPORT = "package import"
        return
    except ModuleNotFoundError as err:
        if err.name != "torch_sparse":
            return
    spec = importlib.util.find_spec("torch_geometric_temporal")
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(list(spec.submodule_search_locations)[0]) / "nn" / "recurrent"
    loaded = {}
    for name in ("gconv_gru", "gconv_lstm", "dcrnn"):
        mod_spec = importlib.util.spec_from_file_location(f"_pygt_{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module  # PyG's inspector looks the module up by name
        mod_spec.loader.exec_module(module)
        loaded[name] = module
    GConvGRU, GConvLSTM, PyGTDCRNN = loaded["gconv_gru"].GConvGRU, loaded["gconv_lstm"].GConvLSTM, loaded["dcrnn"].DCRNN
    PYGT_IMPORT = "PyGT module files loaded directly (torch_sparse not built)"


_load_modules()


class PyGTSeq2Seq(nn.Module):
    """Encoder-decoder of PyGT cells with gnnkit's structure (zero go input, per-node projection).

    GConvGRU / GConvLSTM (ChebConv inside) take ``[B, N, F]`` inputs directly (PyG propagates
    over the node dimension -2). PyGT's DCRNN concatenates on dim 1, so it only takes ``[N, F]``:
    a batch runs it window by window.
    """

    def __init__(self, kind: str, in_feats: int, out_feats: int, hidden: int, num_layers: int, K: int):
        super().__init__()
        self.kind, self.hidden, self.out_feats = kind, hidden, out_feats

        def make(i):
            if kind == "lstm":
                return GConvLSTM(i, hidden, K)
            if kind == "gru":
                return GConvGRU(i, hidden, K)
            return PyGTDCRNN(i, hidden, K + 1)  # PyGT's K counts the identity term

        self.encoder = nn.ModuleList([make(in_feats if l == 0 else hidden) for l in range(num_layers)])
        self.decoder = nn.ModuleList([make(out_feats if l == 0 else hidden) for l in range(num_layers)])
        self.projection = nn.Linear(hidden, out_feats)

    def _step(self, cell, x, edge_index, edge_weight, state):
        if self.kind == "lstm":
            h, c = cell(x, edge_index, edge_weight, state[0], state[1])
            return (h, c), h
        h = cell(x, edge_index, edge_weight, state)
        return h, h

    def _run(self, x, edge_index, edge_weight, horizon):
        # x: [T, B?, N, F] with B present for gru/lstm.
        shape = x.shape[1:-1] + (self.hidden,)
        zeros = x.new_zeros(shape)
        states = [((zeros, zeros) if self.kind == "lstm" else zeros) for _ in self.encoder]
        for t in range(x.shape[0]):
            inp = x[t]
            for l, cell in enumerate(self.encoder):
                states[l], inp = self._step(cell, inp, edge_index, edge_weight, states[l])
        inp = x.new_zeros(x.shape[1:-1] + (self.out_feats,))
        outputs = []
        for _ in range(horizon):
            for l, cell in enumerate(self.decoder):
                states[l], inp = self._step(cell, inp, edge_index, edge_weight, states[l])
            inp = self.projection(inp)
            outputs.append(inp)
        return torch.stack(outputs)

    def forward(self, x, edge_index, edge_weight, horizon):
        """x: [B, T, N, F] -> [B, horizon, N, out]."""
        if self.kind == "dcrnn":
            outs = [self._run(x[b], edge_index, edge_weight, horizon) for b in range(x.shape[0])]
            return torch.stack(outs)
        return self._run(x.transpose(0, 1), edge_index, edge_weight, horizon).transpose(0, 1)
