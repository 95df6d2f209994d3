"""Aggregations as modules: reduce the messages of each node, usable by any convolution.

``aggr(x, index, num_nodes)`` on messages, ``aggr.from_src(g, x)`` / ``aggr.on_graph(g, msgs)``
on a graph (fused kernels for the builtin ones), ``aggr.reduce_func('m', 'h')`` inside
``g.update_all``. See :mod:`gnnkit.nn.aggr.base`.
"""

from .base import Aggregation
from .basic import MaxAggregation, MeanAggregation, MinAggregation, StdAggregation, SumAggregation, VarAggregation
from .degree_scaler import DegreeScalerAggregation
from .lstm import LSTMAggregation
from .multi import MultiAggregation
from .power_mean import PowerMeanAggregation
from .resolve import resolve_aggregation
from .softmax import SoftmaxAggregation

__all__ = [
    "Aggregation",
    "SumAggregation",
    "MeanAggregation",
    "MaxAggregation",
    "MinAggregation",
    "VarAggregation",
    "StdAggregation",
    "SoftmaxAggregation",
    "PowerMeanAggregation",
    "MultiAggregation",
    "LSTMAggregation",
    "DegreeScalerAggregation",
    "resolve_aggregation",
]
