"""BiGG (Dai et al., ICML 2020): scalable autoregressive generation of sparse graphs.

``BiGG`` is the model (row trees over column intervals, Fenwick-tree row context, batched exact
likelihood, ``O((m + n) log n)`` sampling); ``train_bigg`` fits it with checkpoints.
"""

from .model import BiGG
from .train import train_bigg

__all__ = ["BiGG", "train_bigg"]
