"""Random graph generators for tests and scaling runs, vectorised with numpy.

All return a :class:`gnnkit.Graph` whose edges are sorted by (src, dst) without duplicates or
self-loops. ``directed=False`` (the default) stores each undirected edge in both directions, so
``num_edges()`` counts directed edges, as PyG's ``edge_index`` does; edge counts given as
arguments (``num_edges``) count *undirected* edges then, as networkx does. Every generator takes
``seed`` (an int, or ``None`` for fresh entropy) and draws from its own ``numpy`` generator.

* :func:`stochastic_block_model` -- exact SBM: for each block pair the edge count is drawn from
  its binomial and that many distinct pairs are sampled uniformly (never an n^2 loop).
* :func:`planted_partition` -- an SBM with ``num_classes`` equal blocks, set by average degree
  and homophily, with class labels, informative Gaussian features and split masks; built for
  scale tests (1M nodes / 10M edges in a few seconds).
* :func:`erdos_renyi` -- G(n, p) or G(n, m).
* :func:`barabasi_albert` -- preferential attachment, ``num_attach`` edges per new node.
* :func:`grid_2d` -- a rows x cols lattice (optionally a torus).
* :func:`random_lobster` -- a path with legs and leaves (a tree of diameter-ish structure).
* :func:`random_powerlaw_graph` -- Chung-Lu graph with power-law expected degrees and an exact
  number of edges.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import Graph
from .dataset import NodeDataset

__all__ = [
    "stochastic_block_model",
    "planted_partition",
    "planted_partition_dataset",
    "erdos_renyi",
    "barabasi_albert",
    "grid_2d",
    "random_lobster",
    "random_powerlaw_graph",
]


def _check_int(name: str, value, minimum: int = 0) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _check_prob(name: str, value, upper_open: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0.0 <= value <= 1.0) or (upper_open and value == 1.0):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name}: expected a probability in {bound}, got {value!r}")
    return float(value)


def _to_graph(src: np.ndarray, dst: np.ndarray, num_nodes: int, directed: bool) -> Graph:
    """Builds a Graph from distinct pairs; undirected pairs are mirrored. Sorted by (src, dst)."""
    src_t = torch.from_numpy(np.asarray(src, dtype=np.int64))
    dst_t = torch.from_numpy(np.asarray(dst, dtype=np.int64))
    if not directed:
        src_t, dst_t = torch.cat([src_t, dst_t]), torch.cat([dst_t, src_t])
    # One sort of the packed key; torch's integer division is several times faster than numpy's.
    key = torch.sort(src_t * num_nodes + dst_t).values
    src_t = torch.div(key, max(num_nodes, 1), rounding_mode="floor")
    dst_t = key - src_t * num_nodes
    return Graph(src_t, dst_t, num_nodes)


def _split_keys(keys: np.ndarray, cols: int):
    rows = keys // cols
    return rows, keys - rows * cols


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. (numpy 2.4's ``np.unique`` takes ~30x longer than a sort on
    millions of random int64 keys, so this sorts and drops repeats itself.)"""
    values = np.sort(values)
    if values.size:
        keep = np.empty(values.size, dtype=bool)
        keep[0] = True
        np.not_equal(values[1:], values[:-1], out=keep[1:])
        values = values[keep]
    return values


def _sample_pairs(rows: int, cols: int, count: int, rng, *, upper_only: bool = False, no_diagonal: bool = False):
    """``count`` distinct (row, col) cells of a rows x cols grid, uniformly, optionally restricted
    to ``row < col`` or ``row != col``; rejection sampling with a vectorised top-up loop."""
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    total = rows * cols
    allowed = rows * (rows - 1) // 2 if upper_only else (rows * (rows - 1) if no_diagonal else total)
    if count > allowed:
        raise ValueError(f"cannot sample {count} distinct pairs from {allowed}")
    fraction = allowed / total
    keys = np.zeros(0, dtype=np.int64)
    if count > 0.5 * allowed and total <= 50_000_000:
        # Dense: enumerate the allowed cells and take a random subset.
        every = np.arange(total, dtype=np.int64)
        r, c = every // cols, every % cols
        every = every[(r < c) if upper_only else ((r != c) if no_diagonal else slice(None))]
        keys = np.sort(rng.choice(every, size=count, replace=False))
        return _split_keys(keys, cols)
    while keys.size < count:
        need = count - keys.size
        size = int(need / fraction * 1.05) + 16
        # Row and column drawn separately: cheaper than dividing a drawn cell index.
        r = rng.integers(0, rows, size=size, dtype=np.int64)
        c = rng.integers(0, cols, size=size, dtype=np.int64)
        if upper_only or no_diagonal:
            keep = (r < c) if upper_only else (r != c)
            r, c = r[keep], c[keep]
        draw = r * cols + c
        keys = _sorted_unique(np.concatenate([keys, draw]))
    if keys.size > count:  # drop a random surplus; what remains is a uniform subset, still sorted
        keys = np.delete(keys, rng.choice(keys.size, size=keys.size - count, replace=False))
    return _split_keys(keys, cols)


def stochastic_block_model(block_sizes, edge_probs, directed: bool = False, seed=None) -> Graph:
    """SBM: nodes in consecutive blocks of ``block_sizes``; nodes ``u`` in block a and ``v`` in
    block b are joined independently with probability ``edge_probs[a][b]`` (symmetric when
    undirected). ``ndata['label']`` holds each node's block."""
    sizes = [_check_int("block_sizes[i]", s) for s in block_sizes]
    probs = np.asarray(edge_probs, dtype=np.float64)
    k = len(sizes)
    if probs.shape != (k, k):
        raise ValueError(f"edge_probs: expected a {k} x {k} matrix for {k} blocks, got shape {probs.shape}")
    if np.any(probs < 0) or np.any(probs > 1) or np.any(np.isnan(probs)):
        raise ValueError("edge_probs: every entry must be a probability in [0, 1]")
    if not directed and not np.allclose(probs, probs.T):
        raise ValueError("edge_probs: must be symmetric for an undirected SBM (pass directed=True otherwise)")
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    srcs, dsts = [], []
    for a in range(k):
        for b in range(k) if directed else range(a, k):
            n_a, n_b = sizes[a], sizes[b]
            if a == b:
                cells = n_a * (n_a - 1) if directed else n_a * (n_a - 1) // 2
            else:
                cells = n_a * n_b
            count = int(rng.binomial(cells, probs[a, b])) if cells else 0
            r, c = _sample_pairs(n_a, n_b, count, rng, upper_only=(a == b and not directed), no_diagonal=(a == b and directed))
            srcs.append(r + offsets[a])
            dsts.append(c + offsets[b])
    num_nodes = int(offsets[-1])
    g = _to_graph(np.concatenate(srcs), np.concatenate(dsts), num_nodes, directed)
    g.ndata["label"] = torch.from_numpy(np.repeat(np.arange(k, dtype=np.int64), sizes))
    return g


def planted_partition(
    num_nodes: int,
    num_classes: int = 10,
    avg_degree: float = 10.0,
    homophily: float = 0.8,
    num_features: int = 32,
    feature_noise: float = 1.0,
    split=(0.6, 0.2, 0.2),
    directed: bool = False,
    seed=None,
) -> Graph:
    """An SBM with ``num_classes`` near-equal blocks, a planted node-classification task.

    Edge probabilities are set so that a node has ``avg_degree`` expected (directed) edges, a
    fraction ``homophily`` of them inside its class. Features are ``centre[label] + noise``:
    class centres drawn from N(0, I_F), noise from N(0, feature_noise^2 I_F) (float32). Masks
    ``train_mask``/``val_mask``/``test_mask`` are a random ``split`` of the nodes (fractions).
    A graph of 1M nodes and ~10M edges (``avg_degree=10``) takes a few seconds.
    """
    num_nodes = _check_int("num_nodes", num_nodes, 1)
    num_classes = _check_int("num_classes", num_classes, 1)
    num_features = _check_int("num_features", num_features)
    homophily = _check_prob("homophily", homophily)
    if num_classes > num_nodes:
        raise ValueError(f"num_classes: {num_classes} classes need at least as many nodes, got num_nodes={num_nodes}")
    if not isinstance(avg_degree, (int, float)) or avg_degree < 0:
        raise ValueError(f"avg_degree: expected a non-negative number, got {avg_degree!r}")
    if len(split) != 3 or any(f < 0 for f in split) or sum(split) > 1 + 1e-9:
        raise ValueError(f"split: expected three non-negative fractions summing to at most 1, got {split!r}")
    sizes = [num_nodes // num_classes + (1 if i < num_nodes % num_classes else 0) for i in range(num_classes)]
    block = sizes[0]
    # Directed edges per node: an undirected pair adds one to each endpoint's count.
    p_in = min(1.0, homophily * avg_degree / max(block - 1, 1))
    p_out = min(1.0, (1 - homophily) * avg_degree / max(num_nodes - block, 1)) if num_classes > 1 else 0.0
    probs = np.full((num_classes, num_classes), p_out)
    np.fill_diagonal(probs, p_in)
    rng = np.random.default_rng(seed)
    g = stochastic_block_model(sizes, probs, directed=directed, seed=rng)

    label = g.ndata["label"].numpy()
    centres = rng.standard_normal((num_classes, num_features), dtype=np.float32)
    feat = rng.standard_normal((num_nodes, num_features), dtype=np.float32)
    feat *= np.float32(feature_noise)
    feat += centres[label]
    g.ndata["feat"] = torch.from_numpy(feat)

    order = rng.permutation(num_nodes)
    cut_train = int(round(split[0] * num_nodes))
    cut_val = cut_train + int(round(split[1] * num_nodes))
    cut_test = min(num_nodes, cut_val + int(round(split[2] * num_nodes)))
    for name, ids in (("train_mask", order[:cut_train]), ("val_mask", order[cut_train:cut_val]), ("test_mask", order[cut_val:cut_test])):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(ids)] = True
        g.ndata[name] = mask
    return g


def planted_partition_dataset(num_nodes: int, num_classes: int = 10, **kwargs) -> NodeDataset:
    """:func:`planted_partition` wrapped as a :class:`NodeDataset` (same arguments)."""
    g = planted_partition(num_nodes, num_classes, **kwargs)
    meta = {"format": "synthetic planted partition", "split": "random fractions"}
    return NodeDataset(f"SBM-{num_nodes}", g, num_classes=num_classes, meta=meta)


def erdos_renyi(num_nodes: int, p: float | None = None, num_edges: int | None = None, directed: bool = False, seed=None) -> Graph:
    """G(n, p) (each pair independently with probability ``p``) or, with ``num_edges``, G(n, m)
    (``num_edges`` distinct pairs uniformly). No self-loops."""
    num_nodes = _check_int("num_nodes", num_nodes)
    if (p is None) == (num_edges is None):
        raise ValueError("erdos_renyi: give exactly one of p (G(n, p)) and num_edges (G(n, m))")
    rng = np.random.default_rng(seed)
    cells = num_nodes * (num_nodes - 1) if directed else num_nodes * (num_nodes - 1) // 2
    if p is not None:
        count = int(rng.binomial(cells, _check_prob("p", p))) if cells else 0
    else:
        count = _check_int("num_edges", num_edges)
        if count > cells:
            raise ValueError(f"num_edges: {count} exceeds the {cells} possible edges of a simple graph on {num_nodes} nodes")
    src, dst = _sample_pairs(num_nodes, num_nodes, count, rng, upper_only=not directed, no_diagonal=directed)
    return _to_graph(src, dst, num_nodes, directed)


def barabasi_albert(num_nodes: int, num_attach: int, seed=None) -> Graph:
    """Barabási–Albert preferential attachment (undirected): node ``t >= num_attach`` joins
    ``num_attach`` distinct earlier nodes chosen with probability proportional to their degree
    (node ``num_attach`` joins all of nodes ``0..num_attach-1``, as in networkx)."""
    num_nodes = _check_int("num_nodes", num_nodes, 1)
    m = _check_int("num_attach", num_attach, 1)
    if m >= num_nodes:
        raise ValueError(f"num_attach: must be < num_nodes ({num_nodes}), got {m}")
    rng = np.random.default_rng(seed)
    new_nodes = num_nodes - m
    src = np.repeat(np.arange(m, num_nodes, dtype=np.int64), m)  # [new_nodes * m]
    dst = np.empty(new_nodes * m, dtype=np.int64)
    # Every edge endpoint ever added; sampling a uniform entry is sampling by degree.
    endpoints = np.empty(2 * new_nodes * m, dtype=np.int64)
    dst[:m] = np.arange(m)
    endpoints[:m] = np.arange(m)
    endpoints[m : 2 * m] = m
    filled = 2 * m
    uniforms = rng.random((new_nodes, 2 * m))
    for t in range(1, new_nodes):
        chosen = _sorted_unique(endpoints[(uniforms[t] * filled).astype(np.int64)])
        while chosen.size < m:  # rare: too few distinct draws among the pre-drawn ones
            chosen = _sorted_unique(np.concatenate([chosen, endpoints[rng.integers(0, filled, size=m)]]))
        if chosen.size > m:
            chosen = rng.choice(chosen, size=m, replace=False)
        dst[t * m : (t + 1) * m] = chosen
        endpoints[filled : filled + m] = chosen
        endpoints[filled + m : filled + 2 * m] = m + t
        filled += 2 * m
    return _to_graph(src, dst, num_nodes, directed=False)


def grid_2d(rows: int, cols: int, periodic: bool = False) -> Graph:
    """The rows x cols lattice (node ``r * cols + c``), 4-neighbour, undirected; ``periodic``
    wraps both dimensions into a torus (needs at least 3 rows and columns to stay simple)."""
    rows = _check_int("rows", rows, 1)
    cols = _check_int("cols", cols, 1)
    if periodic and (rows < 3 or cols < 3):
        raise ValueError(f"periodic: a torus needs at least 3 rows and 3 columns, got {rows} x {cols}")
    ids = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    if periodic:
        right = (ids, np.roll(ids, -1, axis=1))
        down = (ids, np.roll(ids, -1, axis=0))
    else:
        right = (ids[:, :-1], ids[:, 1:])
        down = (ids[:-1, :], ids[1:, :])
    src = np.concatenate([right[0].ravel(), down[0].ravel()])
    dst = np.concatenate([right[1].ravel(), down[1].ravel()])
    return _to_graph(src, dst, rows * cols, directed=False)


def random_lobster(backbone_length: int, p1: float, p2: float, seed=None) -> Graph:
    """A lobster: a path of ``backbone_length`` nodes; each backbone node grows legs, each leg
    leaves; the number of legs (leaves) per node is geometric, each further one added with
    probability ``p1`` (``p2``), as in networkx's ``random_lobster`` (whose backbone length is
    itself random; here it is given). Removing the leaves leaves a caterpillar, removing legs a path."""
    backbone_length = _check_int("backbone_length", backbone_length, 1)
    p1 = _check_prob("p1", p1, upper_open=True)
    p2 = _check_prob("p2", p2, upper_open=True)
    rng = np.random.default_rng(seed)
    spine = np.arange(backbone_length, dtype=np.int64)
    legs_per_node = rng.geometric(1.0 - p1, size=backbone_length) - 1
    num_legs = int(legs_per_node.sum())
    legs = backbone_length + np.arange(num_legs, dtype=np.int64)
    leaves_per_leg = rng.geometric(1.0 - p2, size=num_legs) - 1
    num_leaves = int(leaves_per_leg.sum())
    leaves = backbone_length + num_legs + np.arange(num_leaves, dtype=np.int64)
    src = np.concatenate([spine[:-1], np.repeat(spine, legs_per_node), np.repeat(legs, leaves_per_leg)])
    dst = np.concatenate([spine[1:], legs, leaves])
    return _to_graph(src, dst, backbone_length + num_legs + num_leaves, directed=False)


def random_powerlaw_graph(num_nodes: int, num_edges: int, exponent: float = 2.5, seed=None) -> Graph:
    """A Chung-Lu graph with exactly ``num_edges`` undirected edges whose expected degrees follow
    a power law ``P(deg = k) ~ k^-exponent``: node i has weight ``(i + 1)^(-1 / (exponent - 1))``
    and each edge joins two nodes drawn independently in proportion to weight (pairs repeated or
    self-looped are redrawn)."""
    num_nodes = _check_int("num_nodes", num_nodes, 2)
    num_edges = _check_int("num_edges", num_edges)
    if not isinstance(exponent, (int, float)) or exponent <= 2.0:
        raise ValueError(f"exponent: expected a number > 2 (finite mean degree), got {exponent!r}")
    cells = num_nodes * (num_nodes - 1) // 2
    if num_edges > cells // 2:
        raise ValueError(f"num_edges: {num_edges} is too dense for a power-law graph on {num_nodes} nodes (at most {cells // 2})")
    rng = np.random.default_rng(seed)
    weight = np.arange(1, num_nodes + 1, dtype=np.float64) ** (-1.0 / (exponent - 1.0))
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    keys = np.zeros(0, dtype=np.int64)
    for _ in range(100):
        need = num_edges - keys.size
        if need <= 0:
            break
        draws = int(need * 1.1) + 16
        u = np.searchsorted(cdf, rng.random(draws), side="right")
        v = np.searchsorted(cdf, rng.random(draws), side="right")
        np.minimum(u, num_nodes - 1, out=u)
        np.minimum(v, num_nodes - 1, out=v)
        keep = u != v
        low, high = np.minimum(u[keep], v[keep]), np.maximum(u[keep], v[keep])
        keys = _sorted_unique(np.concatenate([keys, low * num_nodes + high]))
    if keys.size < num_edges:
        raise RuntimeError(f"random_powerlaw_graph: could not place {num_edges} distinct edges; lower num_edges or raise exponent")
    if keys.size > num_edges:
        keys = np.delete(keys, rng.choice(keys.size, size=keys.size - num_edges, replace=False))
    return _to_graph(*_split_keys(keys, num_nodes), num_nodes, directed=False)
