"""Name -> aggregation module, so layers accept ``aggr='softmax'`` as well as a module."""

from __future__ import annotations

from .base import Aggregation

__all__ = ["resolve_aggregation"]


def resolve_aggregation(aggr, **kwargs) -> Aggregation:
    """Returns ``aggr`` if it is an :class:`Aggregation`, else builds the one it names.

    Names: sum (add), mean, max, min, var, std, softmax, powermean; ``kwargs`` go to the class.
    """
    from . import basic, power_mean, softmax

    if isinstance(aggr, Aggregation):
        return aggr
    table = {
        "sum": basic.SumAggregation,
        "add": basic.SumAggregation,
        "mean": basic.MeanAggregation,
        "max": basic.MaxAggregation,
        "min": basic.MinAggregation,
        "var": basic.VarAggregation,
        "std": basic.StdAggregation,
        "softmax": softmax.SoftmaxAggregation,
        "powermean": power_mean.PowerMeanAggregation,
    }
    if not isinstance(aggr, str) or aggr.lower() not in table:
        raise ValueError(f"aggr must be an Aggregation module or one of {sorted(table)}, got {aggr!r}")
    return table[aggr.lower()](**kwargs)
