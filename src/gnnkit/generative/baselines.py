"""Baselines for graph generation: Erdős–Rényi and GraphRNN-S.

:class:`ErdosRenyi`
    The number of nodes n is drawn from the training graphs' node counts; edges are independent
    with probability p(n) = mean over training graphs of that size of m / C(n, 2). For a size not
    seen in training, the nearest seen size's mean degree is kept: p(n) = p(n') (n' - 1) / (n - 1).

:class:`GraphRNNS` (You et al., ICML 2018, the "S" variant)
    A graph is a sequence of adjacency vectors in a random BFS order: S_i[k] = 1 iff node i links
    to node i-1-k, k < M (the BFS bandwidth M is measured on the training graphs). A GRU reads
    the previous vector and emits independent Bernoulli probabilities for the next one,

        h_i = GRU(h_{i-1}, ReLU(W_in S_{i-1})),    theta_i = sigmoid(MLP(h_i)),
        S_i ~ Bernoulli(theta_i) restricted to k < i,

    with S_0 a vector of ones (start token) and an all-zero vector ending the graph.
    :func:`train_graphrnn_s` fits it by binary cross-entropy with teacher forcing on fresh random
    BFS orders each epoch.

Both expose the interface of :class:`gnnkit.generative.BiGG` that the pipeline uses:
``fit_node_counts(graphs)``, ``sample(num_nodes=None, generator=None) -> Graph``,
``complete(partial_graph, num_nodes=None)``, ``config()``, ``state_dict()``/``load_state_dict()``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .datasets import graph_from_edges
from .metrics import to_adjacency

__all__ = ["ErdosRenyi", "GraphRNNS", "train_graphrnn_s", "bfs_order", "bfs_bandwidth", "atomic_torch_save"]


def atomic_torch_save(obj, path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return np.random.default_rng(seed)


def _check_graphs(graphs, name: str = "graphs") -> list:
    graphs = list(graphs)
    if not graphs:
        raise ValueError(f"{name}: expected a non-empty list of graphs, got an empty one")
    return graphs


class _NodeCountDistribution:
    """The empirical distribution of training node counts (what GRAN and BiGG sample n from)."""

    def __init__(self):
        self.counts = np.zeros(0, dtype=np.int64)

    def fit(self, sizes) -> None:
        sizes = np.asarray(sizes, dtype=np.int64)
        if sizes.size == 0 or sizes.min() < 1:
            raise ValueError("graphs: expected graphs with at least one node")
        self.counts = sizes

    def draw(self, rng: np.random.Generator) -> int:
        if self.counts.size == 0:
            raise RuntimeError("the node-count distribution is not fitted: call fit_node_counts(graphs) or pass num_nodes")
        return int(self.counts[rng.integers(len(self.counts))])


def _check_num_nodes(num_nodes) -> None:
    if num_nodes is not None and (not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1):
        raise ValueError(f"num_nodes: expected a positive integer or None, got {num_nodes!r}")


# --------------------------------------------------------------------------------------------
# Erdős–Rényi


class ErdosRenyi:
    """G(n, p) with n from the training node counts and p fitted per graph size (module docstring)."""

    name = "er"

    def __init__(self):
        self._node_counts = _NodeCountDistribution()
        self.sizes = np.zeros(0, dtype=np.int64)  # distinct training sizes, sorted
        self.probs = np.zeros(0, dtype=np.float64)  # fitted p for each of them

    def config(self) -> dict:
        return {}

    def fit(self, graphs) -> "ErdosRenyi":
        graphs = _check_graphs(graphs)
        per_size: dict[int, list[float]] = {}
        for g in graphs:
            adj = to_adjacency(g)
            n = adj.shape[0]
            pairs = n * (n - 1) / 2
            per_size.setdefault(n, []).append(adj.nnz / 2 / pairs if pairs else 0.0)
        self.sizes = np.array(sorted(per_size), dtype=np.int64)
        self.probs = np.array([np.mean(per_size[n]) for n in self.sizes])
        self.fit_node_counts(graphs)
        return self

    def fit_node_counts(self, graphs) -> None:
        self._node_counts.fit([to_adjacency(g).shape[0] for g in _check_graphs(graphs)])

    def edge_probability(self, num_nodes: int) -> float:
        if self.sizes.size == 0:
            raise RuntimeError("ErdosRenyi is not fitted: call fit(graphs)")
        i = int(np.argmin(np.abs(self.sizes - num_nodes)))
        n_seen, p = int(self.sizes[i]), float(self.probs[i])
        if n_seen == num_nodes or num_nodes < 2:
            return p
        return min(1.0, p * max(n_seen - 1, 1) / (num_nodes - 1))

    def sample(self, num_nodes: int | None = None, generator: torch.Generator | None = None):
        _check_num_nodes(num_nodes)
        rng = _numpy_rng(generator)
        n = int(num_nodes) if num_nodes is not None else self._node_counts.draw(rng)
        p = self.edge_probability(n)
        total = n * (n - 1) // 2
        m = int(rng.binomial(total, p)) if total else 0
        if m > total // 2:  # dense: choose the complement, or enumerate
            keys = rng.permutation(total)[:m]
        else:
            keys = np.zeros(0, dtype=np.int64)
            while len(keys) < m:
                keys = np.unique(np.concatenate([keys, rng.integers(0, total, size=2 * (m - len(keys)) + 8)]))
            keys = rng.permutation(keys)[:m]
        u = np.floor((np.sqrt(8.0 * keys + 1.0) - 1.0) / 2.0).astype(np.int64) + 1
        # exact correction of the float square root: u is the largest value with u (u - 1) / 2 <= key
        u -= (u * (u - 1) // 2 > keys).astype(np.int64)
        u += ((u + 1) * u // 2 <= keys).astype(np.int64)
        v = keys - u * (u - 1) // 2
        return graph_from_edges(u, v, n)

    def complete(self, partial_graph, num_nodes: int | None = None, generator: torch.Generator | None = None):
        """Keep the partial graph's edges, add the missing nodes, and sample every pair that touches
        a new node with probability p(n)."""
        adj = to_adjacency(partial_graph)
        k = adj.shape[0]
        rng = _numpy_rng(generator)
        n = int(num_nodes) if num_nodes is not None else max(self._node_counts.draw(rng), k)
        if n < k:
            raise ValueError(f"num_nodes: expected at least the partial graph's {k} nodes, got {n}")
        p = self.edge_probability(n)
        coo = sp.triu(adj, 1).tocoo()
        src, dst = [coo.row], [coo.col]
        for u in range(k, n):
            linked = np.nonzero(rng.random(u) < p)[0]
            src.append(np.full(len(linked), u))
            dst.append(linked)
        return graph_from_edges(np.concatenate(src), np.concatenate(dst), n)

    def state_dict(self) -> dict:
        return {"sizes": torch.from_numpy(self.sizes), "probs": torch.from_numpy(self.probs),
                "node_counts": torch.from_numpy(self._node_counts.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.sizes = state["sizes"].numpy().astype(np.int64)
        self.probs = state["probs"].numpy().astype(np.float64)
        self._node_counts.fit(state["node_counts"].numpy())


# --------------------------------------------------------------------------------------------
# GraphRNN-S


def bfs_order(adj: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
    """A BFS order from a random start after a random relabelling (component by component)."""
    n = adj.shape[0]
    perm = rng.permutation(n)
    shuffled = adj[perm][:, perm].tocsr()  # shuffled node i is original node perm[i]
    shuffled.sort_indices()
    seen = np.zeros(n, dtype=bool)
    order = []
    for start in range(n):
        if seen[start]:
            continue
        part = sp.csgraph.breadth_first_order(shuffled, start, directed=False, return_predecessors=False)
        seen[part] = True
        order.append(part)
    return perm[np.concatenate(order)] if order else np.zeros(0, dtype=np.int64)


def _backward_offsets(adj: sp.csr_matrix, order: np.ndarray):
    """For every edge, (later position i, offset k = i - j - 1 to the earlier position j)."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    coo = adj.tocoo()
    pi, pj = position[coo.row], position[coo.col]
    later = pi > pj
    return pi[later], pi[later] - pj[later] - 1


def bfs_bandwidth(graphs, orders_per_graph: int = 4, seed: int = 0) -> int:
    """The largest backward link distance over a few random BFS orders of every graph (GraphRNN's M)."""
    rng = np.random.default_rng(seed)
    best = 1
    for g in graphs:
        adj = to_adjacency(g)
        for _ in range(orders_per_graph):
            _, offset = _backward_offsets(adj, bfs_order(adj, rng))
            if len(offset):
                best = max(best, int(offset.max()) + 1)
    return best


class GraphRNNS(nn.Module):
    """GraphRNN-S: a GRU over BFS adjacency vectors with independent Bernoulli outputs.

    Update rule (module docstring): h_i = GRU(h_{i-1}, ReLU(W_in S_{i-1})),
    p(S_i[k] = 1) = sigmoid(W_2 ReLU(W_1 h_i))[k] for k < min(i, M).
    """

    name = "graphrnn_s"

    def __init__(self, max_prev_node: int, hidden_size: int = 128, embed_size: int = 64, num_layers: int = 2,
                 max_num_nodes: int = 1000):
        super().__init__()
        for arg, value in (("max_prev_node", max_prev_node), ("hidden_size", hidden_size), ("embed_size", embed_size),
                           ("num_layers", num_layers), ("max_num_nodes", max_num_nodes)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value!r}")
        self.max_prev_node = int(max_prev_node)
        self.hidden_size = int(hidden_size)
        self.embed_size = int(embed_size)
        self.num_layers = int(num_layers)
        self.max_num_nodes = int(max_num_nodes)
        self.input_embed = nn.Linear(self.max_prev_node, self.embed_size)
        self.rnn = nn.GRU(self.embed_size, self.hidden_size, num_layers=self.num_layers, batch_first=True)
        self.output_hidden = nn.Linear(self.hidden_size, self.embed_size)
        self.output_logits = nn.Linear(self.embed_size, self.max_prev_node)
        self.register_buffer("node_counts", torch.zeros(0, dtype=torch.long))
        self.reset_parameters()

    def config(self) -> dict:
        return {"max_prev_node": self.max_prev_node, "hidden_size": self.hidden_size, "embed_size": self.embed_size,
                "num_layers": self.num_layers, "max_num_nodes": self.max_num_nodes}

    def reset_parameters(self) -> None:
        for layer in (self.input_embed, self.output_hidden, self.output_logits):
            layer.reset_parameters()
        self.rnn.reset_parameters()

    @classmethod
    def for_graphs(cls, graphs, **kwargs) -> "GraphRNNS":
        """A model whose bandwidth and maximum size fit ``graphs``, with the node counts fitted."""
        graphs = _check_graphs(graphs)
        kwargs.setdefault("max_prev_node", bfs_bandwidth(graphs))
        kwargs.setdefault("max_num_nodes", max(to_adjacency(g).shape[0] for g in graphs))
        model = cls(**kwargs)
        model.fit_node_counts(graphs)
        return model

    def fit_node_counts(self, graphs) -> None:
        sizes = [to_adjacency(g).shape[0] for g in _check_graphs(graphs)]
        self.node_counts = torch.tensor(sizes, dtype=torch.long, device=self.node_counts.device)

    # -- sequences --------------------------------------------------------------------------

    def encode(self, graph, rng: np.random.Generator) -> torch.Tensor:
        """Adjacency vectors [n + 1, M] of ``graph`` in a random BFS order; the last row (the end of
        the graph) is all zeros."""
        adj = to_adjacency(graph)
        n = adj.shape[0]
        rows, offsets = _backward_offsets(adj, bfs_order(adj, rng))
        keep = offsets < self.max_prev_node  # links beyond the bandwidth cannot be represented
        seq = torch.zeros(n + 1, self.max_prev_node)
        seq[torch.from_numpy(rows[keep]), torch.from_numpy(offsets[keep])] = 1.0
        return seq

    def _valid_mask(self, length: int, device=None) -> torch.Tensor:
        # row i (node i, or the end token at i = n) may link only to the min(i, M) earlier nodes
        i = torch.arange(length, device=device).unsqueeze(1)
        k = torch.arange(self.max_prev_node, device=device).unsqueeze(0)
        return k < i

    def _step_logits(self, x: torch.Tensor, hidden):
        # x: [B, T, M] -> logits [B, T, M]
        out, hidden = self.rnn(torch.relu(self.input_embed(x)), hidden)
        return self.output_logits(torch.relu(self.output_hidden(out))), hidden

    def sequence_nll(self, sequences: list[torch.Tensor]) -> torch.Tensor:
        """Negative log-likelihood (nats) of each adjacency-vector sequence, rows 1..n (end token included)."""
        device = self.output_logits.weight.device
        lengths = [s.shape[0] for s in sequences]
        longest = max(lengths)
        batch = torch.zeros(len(sequences), longest, self.max_prev_node, device=device)
        for b, s in enumerate(sequences):
            batch[b, : s.shape[0]] = s.to(device)
        inputs = torch.cat([torch.ones_like(batch[:, :1]), batch[:, :-1]], dim=1)  # S_0 = start token
        logits, _ = self._step_logits(inputs, None)
        mask = self._valid_mask(longest, device).unsqueeze(0) & (
            torch.arange(longest, device=device).view(1, -1, 1) < torch.tensor(lengths, device=device).view(-1, 1, 1)
        )
        mask[:, 0] = False  # node 0 has no earlier node: nothing to predict
        loss = nn.functional.binary_cross_entropy_with_logits(logits, batch, reduction="none")
        return (loss * mask).sum(dim=(1, 2))

    def log_likelihood(self, graphs, generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(S^pi) of every graph under one random BFS order pi (a lower bound on log p(G))."""
        rng = _numpy_rng(generator)
        return -self.sequence_nll([self.encode(g, rng) for g in _check_graphs(graphs)])

    # -- generation -------------------------------------------------------------------------

    @torch.no_grad()
    def _generate(self, prefix: torch.Tensor | None, num_nodes: int | None, generator) -> tuple[np.ndarray, np.ndarray, int]:
        device = self.output_logits.weight.device
        limit = num_nodes if num_nodes is not None else self.max_num_nodes
        rows_src, rows_dst = [], []
        x = torch.ones(1, 1, self.max_prev_node, device=device)
        hidden = None
        count = 1
        if prefix is not None and prefix.shape[0] > 1:
            # teacher-force the given rows 1..k-1, then continue from the last state
            _, hidden = self._step_logits(torch.cat([x, prefix[1:-1].unsqueeze(0).to(device)], dim=1), None)
            x = prefix[-1].view(1, 1, -1).to(device)
            count = prefix.shape[0]
        elif prefix is not None:
            count = 1
        while count < limit:
            logits, hidden = self._step_logits(x, hidden)
            probs = torch.sigmoid(logits.view(-1))
            valid = torch.arange(self.max_prev_node, device=device) < count
            for _ in range(10 if num_nodes is not None else 1):
                row = (torch.rand(probs.shape, generator=generator, device="cpu").to(device) < probs) & valid
                if row.any():
                    break
            if not row.any() and num_nodes is None:
                break  # the end-of-graph token
            links = torch.nonzero(row).view(-1).cpu().numpy()
            rows_src.append(np.full(len(links), count))
            rows_dst.append(count - 1 - links)
            x = row.float().view(1, 1, -1)
            count += 1
        if not rows_src:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), count
        return np.concatenate(rows_src), np.concatenate(rows_dst), count

    def sample(self, num_nodes: int | None = None, generator: torch.Generator | None = None):
        """One graph; with ``num_nodes`` it has exactly that many nodes (the end token is ignored)."""
        _check_num_nodes(num_nodes)
        src, dst, n = self._generate(None, num_nodes, generator)
        return graph_from_edges(src, dst, n)

    def complete(self, partial_graph, num_nodes: int | None = None, generator: torch.Generator | None = None):
        """Continue a graph whose nodes 0..k-1 (in their given order) and edges are fixed."""
        adj = to_adjacency(partial_graph)
        k = adj.shape[0]
        if num_nodes is not None and num_nodes < k:
            raise ValueError(f"num_nodes: expected at least the partial graph's {k} nodes, got {num_nodes}")
        rows, offsets = _backward_offsets(adj, np.arange(k))
        keep = offsets < self.max_prev_node
        prefix = torch.zeros(k, self.max_prev_node)
        prefix[torch.from_numpy(rows[keep]), torch.from_numpy(offsets[keep])] = 1.0
        src, dst, n = self._generate(prefix if k else None, num_nodes, generator)
        coo = sp.triu(adj, 1).tocoo()
        return graph_from_edges(np.concatenate([coo.row, src]), np.concatenate([coo.col, dst]), max(n, k))


def train_graphrnn_s(model: GraphRNNS, graphs, *, epochs: int | None = None, time_budget_s: float | None = None,
                     batch_size: int = 32, lr: float = 3e-3, checkpoint=None, resume: bool = False,
                     progress: bool = True, seed: int = 0) -> list[dict]:
    """Teacher-forced BCE training on fresh random BFS orders every epoch.

    Stops after ``epochs`` epochs or ``time_budget_s`` seconds (whichever comes first; at least one
    must be given; the budget is also checked between batches, and an epoch cut short by it is
    marked ``partial`` and counts as done). With ``checkpoint`` the model, optimizer, epoch and
    history are saved atomically after every epoch, and ``resume=True`` continues from that file.
    Returns the history: one dict per epoch with ``epoch``, ``loss`` (nats per node) and ``elapsed_s``.
    """
    graphs = _check_graphs(graphs)
    if epochs is None and time_budget_s is None:
        raise ValueError("epochs/time_budget_s: expected at least one of them, got neither")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    start_epoch, elapsed_before = 0, 0.0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        start_epoch = state["epoch"]
        elapsed_before = history[-1]["elapsed_s"] if history else 0.0
    rng = np.random.default_rng(seed + start_epoch)
    adjacencies = [to_adjacency(g) for g in graphs]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc="GraphRNN-S", unit="epoch")
    started = time.perf_counter()
    epoch = start_epoch
    model.train()
    while True:
        if epochs is not None and epoch >= epochs:
            break
        if time_budget_s is not None and time.perf_counter() - started >= time_budget_s:
            break
        order = rng.permutation(len(graphs))
        epoch_loss, epoch_nodes, partial = 0.0, 0, False
        for lo in range(0, len(order), batch_size):
            seqs = [model.encode(adjacencies[i], rng) for i in order[lo: lo + batch_size]]
            nodes = sum(s.shape[0] - 1 for s in seqs)
            loss = model.sequence_nll(seqs).sum()
            optimizer.zero_grad()
            (loss / nodes).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            epoch_loss += float(loss.detach())
            epoch_nodes += nodes
            # on large datasets one epoch can outlast the budget: stop inside it (counted as done)
            if time_budget_s is not None and time.perf_counter() - started >= time_budget_s and lo + batch_size < len(order):
                partial = True
                break
        epoch += 1
        record = {"epoch": epoch, "loss": epoch_loss / max(epoch_nodes, 1),
                  "elapsed_s": elapsed_before + time.perf_counter() - started}
        if partial:
            record["partial"] = True
        history.append(record)
        if checkpoint is not None:
            atomic_torch_save({"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                               "history": history, "config": model.config()}, checkpoint)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
    if bar is not None:
        bar.close()
    model.eval()
    return history
