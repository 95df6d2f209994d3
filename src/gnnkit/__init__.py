"""gnnkit: deep learning on graphs with PyTorch.

The graph is the central object (structure plus node and edge features); message passing takes
any user-defined message/reduce/update function, and built-in pairs are fused into sparse kernels.
"""

import warnings as _warnings

# torch warns on every CSR construction that its sparse CSR support is "beta"; gnnkit builds
# CSR views on purpose and tests them, so the warning is noise for users.
_warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
_warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

from . import ops  # noqa: E402
from .graph import ALL, EID, NID, Frame, Graph, block, graph  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Graph", "Frame", "graph", "block", "NID", "EID", "ALL", "ops"]
