"""Evaluation of graph generative models: graph statistics, MMD with named kernels, lobster validity.

The protocol is the one of GraphRNN (You et al., ICML 2018) and GRAN (Liao et al., NeurIPS 2019),
which every later paper (BiGG included) reports. For every graph we compute

* the degree histogram (counts of nodes with degree 0, 1, 2, ...),
* the histogram of local clustering coefficients over 100 bins on [0, 1],
* the per-node counts of the 15 orbits of graphlets with 2-4 nodes (what the ORCA program
  reports), averaged over the nodes of the graph,
* the histogram of the eigenvalues of the normalised Laplacian over 200 bins on [-1e-5, 2],

and compare a generated set X with a reference set Y by the (squared, biased) maximum mean
discrepancy

    MMD^2(X, Y) = mean_{x,x'} k(x, x') + mean_{y,y'} k(y, y') - 2 mean_{x,y} k(x, y)

where histograms are first normalised to probability vectors. Two kernel families are in use and
they give different numbers, so every result names its kernel:

``"gaussian_emd"`` (GraphRNN)
    k(p, q) = exp(-W1(p, q)^2 / (2 sigma^2)) with W1 the earth mover's distance on the histogram
    support (bin index / distance_scaling). Orbit statistics use the plain Gaussian
    exp(-||x - y||_2^2 / (2 sigma^2)) on the mean orbit counts, as GraphRNN does.
``"gaussian_tv"`` (GRAN)
    k(p, q) = exp(-TV(p, q)^2 / (2 sigma^2)) with TV(p, q) = ||p - q||_1 / 2; GRAN applies the
    same kernel to the (unnormalised) mean orbit counts.

Bandwidths follow the reference code: degree sigma=1; clustering sigma=0.1 (EMD support scaled by
the 100 bins); orbits sigma=30; spectrum sigma=1.

For 1-D histograms with equal mass the earth mover's distance is the L1 distance between the
cumulative sums, which makes every kernel matrix one ``scipy.spatial.distance.cdist`` call.

Orbit counts: no maintained PyPI package exposes ORCA (the reference code calls a compiled binary),
so :func:`orbit_counts` computes them with sparse matrix algebra: closed formulas for the
non-induced counts of each 4-node pattern per node, then the exact integer inversion of the
pattern-in-graphlet containment matrix (itself computed from the six graphlets), with K4 found by
vectorised triangle listing. Tests check it against brute-force enumeration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

__all__ = [
    "KERNELS",
    "METRICS",
    "to_adjacency",
    "degree_histogram",
    "clustering_coefficients",
    "clustering_histogram",
    "orbit_counts",
    "spectrum_histogram",
    "is_lobster",
    "lobster_validity_error",
    "kernel_matrix",
    "compute_mmd",
    "GraphStatistics",
    "graph_statistics",
    "mmd_from_statistics",
    "degree_mmd",
    "clustering_mmd",
    "orbit_mmd",
    "spectral_mmd",
    "evaluate_generation",
]

KERNELS = ("gaussian_tv", "gaussian_emd")
METRICS = ("degree", "clustering", "orbit", "spectral")

CLUSTERING_BINS = 100
SPECTRUM_BINS = 200
SPECTRUM_RANGE = (-1e-5, 2.0)
NUM_ORBITS = 15

# (kernel, metric) -> (distance kind, sigma, distance_scaling, normalise to a pmf)
_KERNEL_SETTINGS = {
    ("gaussian_emd", "degree"): ("emd", 1.0, 1.0, True),
    ("gaussian_emd", "clustering"): ("emd", 0.1, float(CLUSTERING_BINS), True),
    ("gaussian_emd", "orbit"): ("l2", 30.0, 1.0, False),
    ("gaussian_emd", "spectral"): ("emd", 1.0, 1.0, True),
    ("gaussian_tv", "degree"): ("tv", 1.0, 1.0, True),
    ("gaussian_tv", "clustering"): ("tv", 0.1, 1.0, True),
    ("gaussian_tv", "orbit"): ("tv", 30.0, 1.0, False),
    ("gaussian_tv", "spectral"): ("tv", 1.0, 1.0, True),
}


# --------------------------------------------------------------------------------------------
# graph input


def to_adjacency(graph) -> sp.csr_matrix:
    """The simple undirected adjacency of ``graph`` as an ``int64`` CSR matrix with a zero diagonal.

    Accepts a gnnkit ``Graph`` (edges in one or both directions), a networkx graph, a scipy sparse
    matrix or a dense square array. Directions, multi-edges and self-loops are dropped.
    """
    if sp.issparse(graph):
        mat = sp.csr_matrix(graph)
        if mat.shape[0] != mat.shape[1]:
            raise ValueError(f"graph: expected a square adjacency matrix, got shape {mat.shape}")
        coo = mat.tocoo()
        src, dst, n = coo.row, coo.col, mat.shape[0]
        keep = coo.data != 0
        src, dst = src[keep], dst[keep]
    elif isinstance(graph, np.ndarray):
        if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
            raise ValueError(f"graph: expected a square adjacency matrix, got shape {graph.shape}")
        src, dst = np.nonzero(graph)
        n = graph.shape[0]
    elif hasattr(graph, "num_nodes") and hasattr(graph, "edges") and callable(graph.num_nodes):
        if getattr(graph, "is_block", False):
            raise ValueError("graph: expected a graph, got a bipartite block")
        u, v = graph.edges()
        src, dst = u.cpu().numpy(), v.cpu().numpy()
        n = graph.num_nodes()
    elif hasattr(graph, "number_of_nodes") and hasattr(graph, "adj"):  # networkx
        nodes = list(graph.nodes())
        index = {node: i for i, node in enumerate(nodes)}
        pairs = np.array([(index[a], index[b]) for a, b in graph.edges()], dtype=np.int64).reshape(-1, 2)
        src, dst, n = pairs[:, 0], pairs[:, 1], len(nodes)
    else:
        raise TypeError(
            f"graph: expected a gnnkit Graph, networkx graph, scipy sparse matrix or numpy array, got {type(graph).__name__}"
        )
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    off_diagonal = src != dst
    src, dst = src[off_diagonal], dst[off_diagonal]
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    adj = sp.csr_matrix((np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    adj.data[:] = 1
    adj.sort_indices()
    adj._gnnkit_simple = True  # marks an already-normalised adjacency so helpers skip the copy
    return adj


def _as_adj(graph) -> sp.csr_matrix:
    if getattr(graph, "_gnnkit_simple", False):
        return graph
    return to_adjacency(graph)


def _degrees(adj: sp.csr_matrix) -> np.ndarray:
    return np.diff(adj.indptr).astype(np.int64)


def _triangles(adj: sp.csr_matrix) -> np.ndarray:
    # number of triangles through every node: diag(A^3) / 2 = rowsum(A .* A^2) / 2
    return np.asarray(adj.multiply(adj @ adj).sum(axis=1)).ravel().astype(np.int64) // 2


# --------------------------------------------------------------------------------------------
# per-graph statistics


def degree_histogram(graph) -> np.ndarray:
    """Counts of nodes with degree 0, 1, ..., max degree (networkx's ``degree_histogram``)."""
    adj = _as_adj(graph)
    if adj.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(_degrees(adj))


def clustering_coefficients(graph) -> np.ndarray:
    """Local clustering coefficient of every node: 2 T(v) / (d(v) (d(v) - 1)), 0 where d(v) < 2."""
    adj = _as_adj(graph)
    deg = _degrees(adj).astype(np.float64)
    tri = _triangles(adj).astype(np.float64)
    pairs = deg * (deg - 1.0)
    out = np.zeros_like(deg)
    np.divide(2.0 * tri, pairs, out=out, where=pairs > 0)
    return out


def clustering_histogram(graph, bins: int = CLUSTERING_BINS) -> np.ndarray:
    coeffs = clustering_coefficients(graph)
    hist, _ = np.histogram(coeffs, bins=bins, range=(0.0, 1.0))
    return hist


def normalized_laplacian_spectrum(graph) -> np.ndarray:
    """Eigenvalues of I - D^-1/2 A D^-1/2 (isolated nodes get a zero row, as in networkx)."""
    adj = _as_adj(graph)
    deg = _degrees(adj).astype(np.float64)
    inv_sqrt = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg), out=inv_sqrt, where=deg > 0)
    dense = adj.toarray().astype(np.float64)
    lap = np.diag((deg > 0).astype(np.float64)) - inv_sqrt[:, None] * dense * inv_sqrt[None, :]
    return np.linalg.eigvalsh(lap)


def spectrum_histogram(graph, bins: int = SPECTRUM_BINS) -> np.ndarray:
    eigs = normalized_laplacian_spectrum(graph)
    # eigvalsh returns 2 + 1e-15 for bipartite graphs; clip so such eigenvalues land in the last bin
    eigs = np.clip(eigs, SPECTRUM_RANGE[0], SPECTRUM_RANGE[1])
    hist, _ = np.histogram(eigs, bins=bins, range=SPECTRUM_RANGE)
    return hist


# --- orbit counts -----------------------------------------------------------------------------

# The six connected 4-node graphlets: edges and the orbit of each of their nodes (ORCA numbering).
_GRAPHLETS = {
    "path": ([(0, 1), (1, 2), (2, 3)], [4, 5, 5, 4]),
    "star": ([(0, 1), (0, 2), (0, 3)], [7, 6, 6, 6]),
    "cycle": ([(0, 1), (1, 2), (2, 3), (3, 0)], [8, 8, 8, 8]),
    "paw": ([(0, 1), (1, 2), (2, 0), (0, 3)], [11, 10, 10, 9]),
    "diamond": ([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)], [13, 13, 12, 12]),
    "clique": ([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], [14, 14, 14, 14]),
}


def _edge_keys(adj: sp.csr_matrix) -> np.ndarray:
    """Sorted keys u * n + v of all (directed) adjacency entries, for vectorised edge lookups."""
    coo = adj.tocoo()
    return np.sort(coo.row.astype(np.int64) * adj.shape[0] + coo.col.astype(np.int64))


def _has_edge(keys: np.ndarray, n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    query = u.astype(np.int64) * n + v.astype(np.int64)
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    return (keys[pos] == query) if len(keys) else np.zeros(len(query), dtype=bool)


def _pairs_within_rows(indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (i, j), i < j, of every pair of entries sharing a CSR row."""
    row_len = np.diff(indptr)
    row_of = np.repeat(np.arange(len(row_len)), row_len)
    local = np.arange(indptr[-1]) - indptr[row_of]
    partners = row_len[row_of] - local - 1  # entries after position p in its row
    first = np.repeat(np.arange(indptr[-1]), partners)
    starts = np.cumsum(partners) - partners
    second = first + 1 + (np.arange(len(first)) - np.repeat(starts, partners))
    return first, second


def _clique4_counts(adj: sp.csr_matrix) -> np.ndarray:
    """Number of 4-cliques through every node, by vectorised triangle listing on a degree order."""
    n = adj.shape[0]
    deg = _degrees(adj)
    if n == 0 or adj.nnz == 0:
        return np.zeros(n, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), deg))] = np.arange(n)
    coo = adj.tocoo()
    forward = rank[coo.row] < rank[coo.col]  # orient low rank -> high rank: out-degrees stay small
    oriented = sp.csr_matrix(
        (np.ones(int(forward.sum()), dtype=np.int64), (coo.row[forward], coo.col[forward])), shape=(n, n)
    )
    oriented.sort_indices()
    keys = _edge_keys(adj)
    first, second = _pairs_within_rows(oriented.indptr)
    owner_rows = np.repeat(np.arange(n), np.diff(oriented.indptr))
    apex, a, b = owner_rows[first], oriented.indices[first], oriented.indices[second]
    closed = _has_edge(keys, n, a, b)
    apex, a, b = apex[closed], a[closed], b[closed]  # every triangle once, apex lowest rank
    if len(apex) == 0:
        return np.zeros(n, dtype=np.int64)
    # a fourth node w must be an out-neighbour of the apex (the lowest-rank node of the clique);
    # each 4-clique is then seen once per triangle through the apex, i.e. 3 times
    out_len = np.diff(oriented.indptr)[apex]
    tri_id = np.repeat(np.arange(len(apex)), out_len)
    offsets = np.arange(int(out_len.sum())) - np.repeat(np.cumsum(out_len) - out_len, out_len)
    w = oriented.indices[oriented.indptr[apex][tri_id] + offsets]
    ta, tb = a[tri_id], b[tri_id]
    hit = (w != ta) & (w != tb) & _has_edge(keys, n, ta, w) & _has_edge(keys, n, tb, w)
    tri_id, w = tri_id[hit], w[hit]
    counts = np.zeros(n, dtype=np.int64)
    for nodes in (apex[tri_id], a[tri_id], b[tri_id], w):
        counts += np.bincount(nodes, minlength=n)
    return counts // 3


def _noninduced_counts(adj: sp.csr_matrix) -> np.ndarray:
    """Per-node counts of non-induced 4-node pattern copies, columns in orbit order 4..14. [n, 11]"""
    n = adj.shape[0]
    deg = _degrees(adj)
    tri = _triangles(adj)
    walks2 = (adj @ adj).tocsr()  # walks2[v, w]: common neighbours of v and w
    common = adj.multiply(walks2).tocsr()  # common[u, v] = triangles on edge (u, v)
    nbr_deg_sum = adj @ deg

    path_end = adj @ (adj @ (deg - 1)) - deg * (deg - 1) - 2 * tri
    path_mid = (deg - 1) * (nbr_deg_sum - deg) - 2 * tri
    star_leaf = adj @ ((deg - 1) * (deg - 2) // 2)
    star_center = deg * (deg - 1) * (deg - 2) // 6

    opposite = walks2.copy()
    opposite.setdiag(0)
    opposite.eliminate_zeros()
    opposite.data = opposite.data * (opposite.data - 1) // 2
    cycle = np.asarray(opposite.sum(axis=1)).ravel().astype(np.int64)

    paw_tail = adj @ tri - 2 * tri
    paw_triangle = common @ (deg - 2)
    paw_center = tri * (deg - 2)

    edge_minus_one = (common - adj).tocsr()  # triangles on an edge other than the one through v
    diamond_side = np.asarray((adj @ edge_minus_one).multiply(adj).sum(axis=1)).ravel().astype(np.int64) // 2
    pairs_on_edge = common.copy()
    pairs_on_edge.data = pairs_on_edge.data * (pairs_on_edge.data - 1) // 2
    diamond_hub = np.asarray(pairs_on_edge.sum(axis=1)).ravel().astype(np.int64)

    clique = _clique4_counts(adj) if n else np.zeros(0, dtype=np.int64)
    columns = [
        path_end, path_mid, star_leaf, star_center, cycle, paw_tail, paw_triangle, paw_center,
        diamond_side, diamond_hub, clique,
    ]
    return np.stack([np.asarray(c, dtype=np.int64).ravel() for c in columns], axis=1).reshape(n, 11)


def _containment_matrix() -> np.ndarray:
    """M[i, j]: non-induced count of pattern-orbit j (4..14) at a node in induced orbit i (4..14)."""
    matrix = np.zeros((11, 11), dtype=np.int64)
    seen = np.zeros(11, dtype=bool)
    for edges, orbits in _GRAPHLETS.values():
        e = np.array(edges)
        small = sp.csr_matrix((np.ones(len(e), dtype=np.int64), (e[:, 0], e[:, 1])), shape=(4, 4))
        counts = _noninduced_counts(to_adjacency(small))
        for node, orbit in enumerate(orbits):
            row = orbit - 4
            if seen[row] and not np.array_equal(matrix[row], counts[node]):
                raise AssertionError("orbit formulas disagree between equivalent nodes")
            matrix[row], seen[row] = counts[node], True
    if not seen.all() or np.any(np.triu(matrix, 1) != 0) or np.any(np.diag(matrix) != 1):
        raise AssertionError("containment matrix is not unit triangular")
    return matrix


_CONTAINMENT = None


def orbit_counts(graph) -> np.ndarray:
    """Per-node counts of the 15 orbits of connected graphlets with 2 to 4 nodes (ORCA's ``node 4``).

    Column k is the number of induced graphlets in which the node sits in orbit k: 0 degree;
    1-2 path of 3 (end, middle); 3 triangle; 4-5 path of 4 (end, inner); 6-7 star (leaf, centre);
    8 4-cycle; 9-11 paw (tail, triangle node, hub); 12-13 diamond (degree 2, degree 3); 14 K4.
    Returns an ``int64`` array of shape [num_nodes, 15].
    """
    global _CONTAINMENT
    if _CONTAINMENT is None:
        _CONTAINMENT = _containment_matrix()
    adj = _as_adj(graph)
    n = adj.shape[0]
    deg = _degrees(adj)
    tri = _triangles(adj)
    out = np.zeros((n, NUM_ORBITS), dtype=np.int64)
    if n == 0:
        return out
    out[:, 0] = deg
    out[:, 1] = adj @ deg - deg - 2 * tri
    out[:, 2] = deg * (deg - 1) // 2 - tri
    out[:, 3] = tri
    noninduced = _noninduced_counts(adj)
    induced = np.zeros_like(noninduced)
    # M is unit lower-triangular when orbits are taken from the densest graphlet down, so the
    # induced counts follow by exact integer back-substitution
    for j in range(10, -1, -1):
        larger = _CONTAINMENT[j + 1:, j]
        induced[:, j] = noninduced[:, j] - induced[:, j + 1:] @ larger
    out[:, 4:] = induced
    return out


# --- lobsters ---------------------------------------------------------------------------------


def is_lobster(graph) -> bool:
    """True if ``graph`` is a lobster: a tree that becomes a path (or nothing) once its leaves are
    removed twice (GRAN's check)."""
    adj = _as_adj(graph)
    n = adj.shape[0]
    if n == 0:
        return False
    if adj.nnz // 2 != n - 1:
        return False
    num_components, _ = sp.csgraph.connected_components(adj, directed=False)
    if num_components != 1:
        return False
    alive = np.ones(n, dtype=bool)
    for _ in range(2):
        deg = adj @ alive.astype(np.int64)
        alive &= ~(deg == 1)
    deg = (adj @ alive.astype(np.int64))[alive]
    remaining = int(alive.sum())
    if remaining <= 1:
        return True
    return int((deg == 1).sum()) == 2 and int((deg == 2).sum()) == remaining - 2


def lobster_validity_error(graphs) -> float:
    """Fraction of ``graphs`` that are not lobsters (GRAN reports 1 minus this as accuracy)."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("graphs: expected at least one graph, got an empty list")
    return float(np.mean([not is_lobster(g) for g in graphs]))


# --------------------------------------------------------------------------------------------
# kernels and MMD


def _pad(samples, width: int) -> np.ndarray:
    out = np.zeros((len(samples), width), dtype=np.float64)
    for i, s in enumerate(samples):
        s = np.asarray(s, dtype=np.float64).ravel()
        out[i, : len(s)] = s
    return out


def kernel_matrix(x, y, distance: str, sigma: float, distance_scaling: float = 1.0) -> np.ndarray:
    """Gaussian kernel matrix exp(-D^2 / (2 sigma^2)) between the rows of ``x`` [N1, L] and ``y`` [N2, L].

    ``distance``: ``"emd"`` (earth mover's distance between histograms of equal mass on the
    support 0, 1/s, 2/s, ... with s = ``distance_scaling``), ``"tv"`` (half the L1 distance) or
    ``"l2"`` (Euclidean distance).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    if distance == "emd":
        dist = cdist(np.cumsum(x, axis=1), np.cumsum(y, axis=1), "cityblock") / distance_scaling
    elif distance == "tv":
        dist = cdist(x, y, "cityblock") / 2.0
    elif distance == "l2":
        dist = cdist(x, y, "euclidean")
    else:
        raise ValueError(f"distance: expected 'emd', 'tv' or 'l2', got {distance!r}")
    return np.exp(-(dist**2) / (2.0 * sigma * sigma))


def compute_mmd(samples1, samples2, distance: str, sigma: float, distance_scaling: float = 1.0, is_hist: bool = True) -> float:
    """Squared MMD (biased V-statistic, the reference code's) between two lists of vectors.

    Vectors of different lengths are zero-padded; with ``is_hist`` each is normalised to sum 1.
    """
    if len(samples1) == 0 or len(samples2) == 0:
        raise ValueError(f"samples: expected two non-empty sets, got sizes {len(samples1)} and {len(samples2)}")
    width = max(max(np.size(s) for s in samples1), max(np.size(s) for s in samples2), 1)
    x, y = _pad(samples1, width), _pad(samples2, width)
    if is_hist:
        x = x / np.maximum(x.sum(axis=1, keepdims=True), 1e-300)
        y = y / np.maximum(y.sum(axis=1, keepdims=True), 1e-300)
    kxx = kernel_matrix(x, x, distance, sigma, distance_scaling).mean()
    kyy = kernel_matrix(y, y, distance, sigma, distance_scaling).mean()
    kxy = kernel_matrix(x, y, distance, sigma, distance_scaling).mean()
    return float(kxx + kyy - 2.0 * kxy)


@dataclass
class GraphStatistics:
    """The per-graph statistics the MMDs compare, computed once per set of graphs."""

    num_nodes: np.ndarray
    degree: list = field(default_factory=list)
    clustering: list = field(default_factory=list)
    orbit: list = field(default_factory=list)
    spectral: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.num_nodes)


def graph_statistics(graphs, metrics=METRICS, progress: bool = False, desc: str = "statistics") -> GraphStatistics:
    """Statistics of every non-empty graph in ``graphs`` (empty graphs are skipped, as in GRAN)."""
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"metrics: expected a subset of {METRICS}, got unknown {sorted(unknown)}")
    graphs = list(graphs)
    iterator = graphs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(graphs, desc=desc, leave=False)
    stats = GraphStatistics(num_nodes=np.zeros(0, dtype=np.int64))
    sizes = []
    for g in iterator:
        adj = _as_adj(g)
        if adj.shape[0] == 0:
            continue
        sizes.append(adj.shape[0])
        if "degree" in metrics:
            stats.degree.append(degree_histogram(adj))
        if "clustering" in metrics:
            stats.clustering.append(clustering_histogram(adj))
        if "orbit" in metrics:
            stats.orbit.append(orbit_counts(adj).sum(axis=0) / adj.shape[0])
        if "spectral" in metrics:
            stats.spectral.append(spectrum_histogram(adj))
    stats.num_nodes = np.asarray(sizes, dtype=np.int64)
    return stats


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")


def mmd_from_statistics(reference: GraphStatistics, generated: GraphStatistics, kernel: str = "gaussian_tv", metrics=None) -> dict:
    """``{metric: MMD^2}`` for the metrics present in both statistics, with the named kernel."""
    _check_kernel(kernel)
    out = {}
    for metric in metrics or METRICS:
        ref, gen = getattr(reference, metric), getattr(generated, metric)
        if not ref or not gen:
            continue
        distance, sigma, scaling, is_hist = _KERNEL_SETTINGS[(kernel, metric)]
        out[metric] = compute_mmd(ref, gen, distance, sigma, scaling, is_hist)
    return out


def _single_metric(metric):
    def mmd(reference_graphs, generated_graphs, kernel: str = "gaussian_tv") -> float:
        _check_kernel(kernel)
        ref = graph_statistics(reference_graphs, metrics=(metric,))
        gen = graph_statistics(generated_graphs, metrics=(metric,))
        result = mmd_from_statistics(ref, gen, kernel, metrics=(metric,))
        if metric not in result:
            raise ValueError("graphs: expected non-empty graphs in both sets")
        return result[metric]

    mmd.__name__ = f"{metric}_mmd"
    mmd.__doc__ = f"Squared MMD of the {metric} statistic between two sets of graphs with the named kernel."
    return mmd


degree_mmd = _single_metric("degree")
clustering_mmd = _single_metric("clustering")
orbit_mmd = _single_metric("orbit")
spectral_mmd = _single_metric("spectral")


def evaluate_generation(
    generated,
    reference,
    kernels=KERNELS,
    metrics=METRICS,
    lobster: bool = False,
    reference_statistics: GraphStatistics | None = None,
    progress: bool = False,
) -> dict:
    """Every MMD of ``generated`` against ``reference`` for every kernel, plus the lobster error.

    Returns ``{"kernels": {kernel: {metric: value}}, "lobster_error": float | None,
    "num_generated": int, "num_reference": int}``.
    """
    for kernel in kernels:
        _check_kernel(kernel)
    generated = list(generated)
    if reference_statistics is None:
        reference_statistics = graph_statistics(reference, metrics, progress=progress, desc="reference statistics")
    gen_stats = graph_statistics(generated, metrics, progress=progress, desc="generated statistics")
    if len(gen_stats) == 0:
        raise ValueError("generated: expected at least one non-empty graph")
    result = {
        "kernels": {k: mmd_from_statistics(reference_statistics, gen_stats, k, metrics) for k in kernels},
        "lobster_error": lobster_validity_error(generated) if lobster else None,
        "num_generated": len(generated),
        "num_reference": len(reference_statistics),
    }
    return result
