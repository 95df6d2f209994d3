"""The graph structure: the Graph object, batching, subgraphs, transforms and conversions."""

from .frame import Frame
from .graph import ALL, EID, NID, Graph, block, graph

__all__ = ["Graph", "Frame", "graph", "block", "NID", "EID", "ALL"]
