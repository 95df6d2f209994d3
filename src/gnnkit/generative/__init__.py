"""Graph generation: the BiGG model, baselines (Erdős–Rényi, GraphRNN-S), the GraphRNN / GRAN
benchmark datasets with GRAN's splits, the MMD evaluation with named kernels
(:mod:`gnnkit.generative.metrics`) and the train / sample / evaluate / complete workflow
(:mod:`gnnkit.generative.pipeline`, the ``gnnkit generate`` command)."""

from .baselines import ErdosRenyi, GraphRNNS, train_graphrnn_s
from .bigg import BiGG, train_bigg
from .datasets import GENERATION_DATASETS, GenerationDataset, load_generation_dataset
from .metrics import (
    KERNELS,
    METRICS,
    clustering_mmd,
    compute_mmd,
    degree_mmd,
    evaluate_generation,
    is_lobster,
    lobster_validity_error,
    orbit_counts,
    orbit_mmd,
    spectral_mmd,
)
from .pipeline import compare_methods, format_table, load_run, sample_graphs, train_model

__all__ = [
    "BiGG",
    "train_bigg",
    "ErdosRenyi",
    "GraphRNNS",
    "train_graphrnn_s",
    "GENERATION_DATASETS",
    "GenerationDataset",
    "load_generation_dataset",
    "KERNELS",
    "METRICS",
    "compute_mmd",
    "degree_mmd",
    "clustering_mmd",
    "orbit_mmd",
    "spectral_mmd",
    "orbit_counts",
    "is_lobster",
    "lobster_validity_error",
    "evaluate_generation",
    "train_model",
    "load_run",
    "sample_graphs",
    "compare_methods",
    "format_table",
]
