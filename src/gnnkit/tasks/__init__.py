"""Training and evaluation loops for the standard tasks, callable from Python.

* :func:`train_node_classification`: full-graph node classification (GCN/GAT/GraphSAGE/GIN).
* :func:`train_graph_classification`: 10-fold cross-validation with model selection on a
  validation fold, as in PyG's ``benchmark/kernel``.
* :func:`train_link_prediction`: link prediction with negative sampling, ROC-AUC and Hits@K.

Every loop shows a progress bar with the current metrics, logs metrics per epoch to CSV and JSON,
checkpoints atomically and resumes from ``checkpoint_last.pt``, seeds every generator, and draws
its learning curves to a PNG. The ``gnnkit train`` command only parses arguments and calls these.
"""

from ._common import format_metrics, load_named_dataset, resolve_device, summarize_runs, write_metrics_json
from .checkpoint import load_checkpoint, save_checkpoint
from .graph import train_graph_classification
from .link import train_link_prediction
from .metrics_log import MetricsLog
from .node import train_node_classification
from .plots import plot_learning_curves
from .progress import ProgressBar
from .resources import peak_rss_mb
from .seed import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "train_node_classification",
    "train_graph_classification",
    "train_link_prediction",
    "summarize_runs",
    "format_metrics",
    "load_named_dataset",
    "resolve_device",
    "write_metrics_json",
    "MetricsLog",
    "ProgressBar",
    "save_checkpoint",
    "load_checkpoint",
    "plot_learning_curves",
    "peak_rss_mb",
    "seed_everything",
    "get_rng_state",
    "set_rng_state",
]
