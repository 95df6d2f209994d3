"""Convolutions split into a cacheable ``msg_pass`` and a weighted ``update``."""

from .base import SplitConv
from .cheb import ChebSplitConv
from .diffusion import DiffusionSplitConv
from .gcn import GCNSplitConv
from .sage import SAGESplitConv

__all__ = ["SplitConv", "ChebSplitConv", "GCNSplitConv", "DiffusionSplitConv", "SAGESplitConv"]
