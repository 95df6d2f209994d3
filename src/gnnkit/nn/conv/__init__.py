"""Graph convolution layers, one per file; each runs on graphs, batched graphs and blocks."""

from .appnp_conv import APPNPConv
from .cheb_conv import ChebConv
from .edge_conv import EdgeConv
from .gat_conv import GATConv
from .gated_graph_conv import GatedGraphConv
from .gatv2_conv import GATv2Conv
from .gin_conv import GINConv
from .graph_conv import GraphConv
from .rel_graph_conv import RelGraphConv
from .sage_conv import SAGEConv
from .sg_conv import SGConv
from .tag_conv import TAGConv
from .tree_lstm import TreeLSTM
from .gen_conv import GENConv  # noqa: E402
from .mr_conv import MRConv  # noqa: E402
