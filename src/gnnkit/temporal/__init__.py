"""Dynamic GNNs with cached message passing (DynaGraph, Guan, Iyer and Kim, GRADES-NDA 2022).

Graph RNN cells whose gates are graph convolutions split into a parameter-free ``msg_pass`` and
a weighted ``update``, so aggregations are shared across gates, kept per snapshot across
overlapping windows, and fused across the time steps of a window. Caching never changes results.

Example (METR-LA graph, 12 -> 12 forecasting)::

    import gnnkit.temporal as T
    sensors = T.metr_la_with_los_loop_speeds("datasets/METR-LA", "datasets/LosLoop")
    data = T.SlidingWindowDataset(sensors.speed, 12, 12, zero_is_missing=True, time_of_day=288)
    ops, model = sensors.operators(), T.DCRNN(data.in_feats, 1, hidden_feats=64, num_layers=2)
    for x, y, ids in data.batches("train", 64, shuffle=True):
        pred = data.denormalize(model(ops, x, 12, targets=data.normalize_targets(y), teacher_forcing=0.5, snapshot_ids=ids))

``compile_gates(True)`` runs the cells' elementwise gate math through ``torch.compile`` (cached
and uncached paths alike; needs a C++ compiler on CPU).

Data-parallel training: :mod:`gnnkit.temporal.parallel` (``torchrun ... -m gnnkit.temporal.parallel``).
"""

from .api import cache, integrate, msg_pass, stack_seq_model, update
from .cache import CacheStore
from .cells import GraphGRUCell, GraphLSTMCell
from .cells._gates import compile_gates
from .conv import ChebSplitConv, DiffusionSplitConv, GCNSplitConv, SAGESplitConv, SplitConv
from .models import DCRNN, GCRN, GConvGRU, GConvLSTM
from .propagation import GraphOperators, propagate
from .readers import (
    SensorGraph,
    load_chickenpox,
    load_england_covid,
    load_los_loop,
    load_metr_la,
    load_montevideo_bus,
    load_pedalme,
    load_pems_bay,
    load_sz_taxi,
    load_twitter_tennis,
    metr_la_with_los_loop_speeds,
    read_dcrnn_adj,
    read_speed_h5,
)
from .seq2seq import GraphSeq2Seq
from .signals import DynamicGraphTemporalSignal, Snapshot, StaticGraphTemporalSignal, temporal_signal_split
from .windows import SlidingWindowDataset, StandardScaler

__all__ = [
    "GraphOperators",
    "propagate",
    "SplitConv",
    "GCNSplitConv",
    "ChebSplitConv",
    "DiffusionSplitConv",
    "SAGESplitConv",
    "GraphGRUCell",
    "GraphLSTMCell",
    "compile_gates",
    "GConvGRU",
    "GConvLSTM",
    "DCRNN",
    "GCRN",
    "GraphSeq2Seq",
    "CacheStore",
    "cache",
    "msg_pass",
    "update",
    "integrate",
    "stack_seq_model",
    "Snapshot",
    "StaticGraphTemporalSignal",
    "DynamicGraphTemporalSignal",
    "temporal_signal_split",
    "SlidingWindowDataset",
    "StandardScaler",
    "SensorGraph",
    "load_chickenpox",
    "load_england_covid",
    "load_montevideo_bus",
    "load_pedalme",
    "load_twitter_tennis",
    "load_metr_la",
    "load_pems_bay",
    "load_los_loop",
    "load_sz_taxi",
    "metr_la_with_los_loop_speeds",
    "read_dcrnn_adj",
    "read_speed_h5",
]
