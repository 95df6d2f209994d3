"""GNNAutoScale: full-neighbourhood training on giant graphs with historical embeddings.

:class:`History` stores per-layer node embeddings; :class:`SubgraphLoader` yields METIS
cluster batches with their one-hop halo; :class:`ScalableGNN` turns a stack of gnnkit conv
layers into a GAS model whose memory is that of one batch plus its halo.
"""

from .history import History
from .loader import SubgraphBatch, SubgraphLoader
from .model import ScalableGNN, gcn_norm_weights

__all__ = ["History", "SubgraphLoader", "SubgraphBatch", "ScalableGNN", "gcn_norm_weights"]
