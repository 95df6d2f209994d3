"""Recurrent cells whose gates are graph convolutions."""

from .gru import GraphGRUCell
from .lstm import GraphLSTMCell

__all__ = ["GraphGRUCell", "GraphLSTMCell"]
