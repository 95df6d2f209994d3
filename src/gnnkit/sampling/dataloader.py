"""Mini-batch iteration over seed nodes (or edges, or clusters) with any gnnkit sampler.

Each batch of seed ids goes through ``sampler.sample(g, batch)``; then only the features of the
sampled nodes and edges are gathered from the full graph (``g.ndata[k][sampled ids]``) and
attached to the result: for a list of blocks to ``blocks[0].srcdata`` (inputs) and
``blocks[-1].dstdata`` (outputs, e.g. labels), plus ``edata`` of every block; for a subgraph to
its ``ndata``/``edata``. With ``num_workers > 0`` sampling and slicing run in worker processes
(PyTorch's DataLoader machinery), prefetching ``prefetch_factor`` batches per worker while the
model trains. With ``use_prefetch_thread=True`` (and no workers) one background thread of the
same process builds the next ``prefetch_factor`` batches instead: no fork, no copy of the
batch between processes, and the gathers it runs release the GIL.
"""

from __future__ import annotations

import queue
import threading

import torch
import torch.utils.data

from ..graph import EID, NID, Graph
from ._utils import check_graph

__all__ = ["DataLoader"]


_END_OF_EPOCH = object()


def _identity(batch):
    return batch


_HUGE_PAGE = 2 << 20
_madvise = None


def _advise_huge_pages(out: torch.Tensor) -> None:
    """Asks Linux to back the (not yet touched) memory of ``out`` with 2 MB pages.

    A batch's input features are tens of MB, allocated fresh for every batch (glibc maps
    allocations above 32 MB straight from the kernel), so with 4 KB pages the copy spends
    more time in page faults than copying: measured 28 ms -> 18 ms for 90k x 100 floats.
    Anywhere this is unavailable (not Linux, no libc) it silently does nothing."""
    global _madvise
    if _madvise is None:
        _madvise = False
        try:
            import ctypes
            import sys

            if sys.platform.startswith("linux"):
                libc = ctypes.CDLL(None, use_errno=True)
                libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                _madvise = libc.madvise
        except (OSError, AttributeError):
            _madvise = False
    if not _madvise:
        return
    start = out.data_ptr()
    first = -(-start // _HUGE_PAGE) * _HUGE_PAGE
    last = (start + out.numel() * out.element_size()) // _HUGE_PAGE * _HUGE_PAGE
    if last > first:
        _madvise(first, last - first, 14)  # MADV_HUGEPAGE; only a hint, the result is ignored


def _gather_rows(source: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``source[ids]`` along dim 0, written straight into shared memory inside a DataLoader
    worker (so handing it to the main process copies nothing) and into huge pages when large."""
    if source.requires_grad:  # out= does not record autograd (e.g. learnable node embeddings)
        return source.index_select(0, ids)
    out = torch.empty((ids.numel(),) + tuple(source.shape[1:]), dtype=source.dtype, device=source.device)
    if source.device.type == "cpu":
        if torch.utils.data.get_worker_info() is not None:
            out.share_memory_()
        elif out.numel() * out.element_size() >= 4 * _HUGE_PAGE:
            _advise_huge_pages(out)
    return torch.index_select(source, 0, ids, out=out)


class _BatchOrder:
    """Yields the seed batches of one epoch; a new shuffle every time it is iterated."""

    def __init__(self, indices, batch_size, shuffle, drop_last, generator):
        self.indices = indices
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        n = self.indices.numel()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(order.numel(), generator=self.generator, device="cpu").to(order.device)]
        batches = torch.split(order, self.batch_size)
        if self.drop_last and batches and batches[-1].numel() < self.batch_size:
            batches = batches[:-1]
        return iter(batches)


class _Collator(torch.utils.data.Dataset):
    """Map-style dataset whose "items" are seed batches (so workers can build them)."""

    def __init__(self, loader: "DataLoader"):
        self.loader = loader

    def __getitem__(self, batch):
        return self.loader.collate(batch)

    def __len__(self) -> int:  # pragma: no cover - torch only asks for it with batch_size set
        return len(self.loader)


class DataLoader:
    """``DataLoader(g, indices, sampler, batch_size, shuffle, drop_last, num_workers)``.

    ``indices``: seed ids (node ids for node samplers, edge ids for an
    :class:`EdgePredictionSampler`, cluster ids for :class:`ClusterGCNSampler`) as a tensor, a
    list, or a boolean mask. ``node_feats`` / ``edge_feats``: names of the features to slice
    (default: all of ``g.ndata`` / ``g.edata``). ``device``: where batches are moved.
    """

    def __init__(
        self,
        g: Graph,
        indices,
        graph_sampler,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        *,
        node_feats=None,
        edge_feats=None,
        device=None,
        persistent_workers: bool = False,
        prefetch_factor: int = 2,
        generator: torch.Generator | None = None,
        use_prefetch_thread: bool = False,
    ):
        check_graph(g, "DataLoader: g")
        if not hasattr(graph_sampler, "sample"):
            raise TypeError(f"DataLoader: graph_sampler must have a sample(g, seeds) method, got {type(graph_sampler).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        indices = torch.as_tensor(indices) if not isinstance(indices, torch.Tensor) else indices
        if indices.dtype == torch.bool:
            indices = torch.nonzero(indices).squeeze(1)
        if indices.dim() != 1 or indices.is_floating_point():
            raise ValueError(f"DataLoader: indices must be a 1-D integer tensor or a boolean mask, got {indices.dtype} of shape {tuple(indices.shape)}")
        self.g = g
        self.indices = indices.to(torch.int64)
        self.sampler = graph_sampler
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.node_feats = [k for k in g.ndata if k != NID] if node_feats is None else list(node_feats)
        self.edge_feats = [k for k in g.edata if k != EID] if edge_feats is None else list(edge_feats)
        for key in self.node_feats:
            if key not in g.ndata:
                raise KeyError(f"DataLoader: node_feats names {key!r}, which g.ndata does not have ({list(g.ndata)})")
        for key in self.edge_feats:
            if key not in g.edata:
                raise KeyError(f"DataLoader: edge_feats names {key!r}, which g.edata does not have ({list(g.edata)})")
        self.device = None if device is None else torch.device(device)
        if not isinstance(use_prefetch_thread, bool):
            raise TypeError(f"DataLoader: use_prefetch_thread must be a bool, got {type(use_prefetch_thread).__name__}")
        if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int) or prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be a positive int, got {prefetch_factor!r}")
        self.use_prefetch_thread = use_prefetch_thread and num_workers == 0
        self.prefetch_factor = prefetch_factor
        # One-off preparation (e.g. GraphSAINT's normalisation) in the main process, so the
        # workers inherit it instead of each redoing it.
        prepare = getattr(graph_sampler, "prepare", None)
        if callable(prepare):
            prepare(g)
        self._order = _BatchOrder(self.indices, batch_size, shuffle, drop_last, generator)
        self._torch_loader = None
        if num_workers > 0:
            self._torch_loader = torch.utils.data.DataLoader(
                _Collator(self),
                batch_size=None,
                sampler=self._order,
                num_workers=num_workers,
                collate_fn=_identity,
                persistent_workers=persistent_workers,
                prefetch_factor=prefetch_factor,
            )

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self):
        if self._torch_loader is not None:
            for batch in self._torch_loader:
                yield self._to_device(batch)
            return
        if self.use_prefetch_thread:
            yield from self._iter_prefetch_thread()
            return
        for seeds in self._order:
            yield self._to_device(self.collate(seeds))

    def _iter_prefetch_thread(self):
        """Batches built by a background thread, at most ``prefetch_factor`` ahead."""
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch_factor)
        stop = threading.Event()

        def offer(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for seeds in self._order:
                    if not offer((self.collate(seeds), None)):
                        return
            except BaseException as err:  # noqa: BLE001 - re-raised in the consuming thread
                offer((None, err))
                return
            offer((_END_OF_EPOCH, None))

        producer = threading.Thread(target=produce, name="gnnkit-prefetch", daemon=True)
        producer.start()
        try:
            while True:
                batch, err = ready.get()
                if err is not None:
                    raise err
                if batch is _END_OF_EPOCH:
                    return
                yield self._to_device(batch)
        finally:
            stop.set()  # the consumer left early (break, exception): let the producer exit
            producer.join()

    # -- batch assembly ---------------------------------------------------------------------------

    def collate(self, seeds: torch.Tensor):
        """Samples one batch and attaches the features of the sampled nodes and edges."""
        result = self.sampler.sample(self.g, seeds)
        items = result if isinstance(result, tuple) else (result,)
        for item in items:
            if isinstance(item, Graph):
                self._attach_graph(item)
            elif isinstance(item, list) and item and all(isinstance(b, Graph) and b.is_block for b in item):
                self._attach_blocks(item)
        return result

    def _gather_nodes(self, frame, ids: torch.Tensor) -> None:
        for key in self.node_feats:
            frame[key] = _gather_rows(self.g.ndata[key], ids)

    def _gather_edges(self, frame, ids: torch.Tensor) -> None:
        for key in self.edge_feats:
            frame[key] = _gather_rows(self.g.edata[key], ids)

    def _attach_blocks(self, blocks: list) -> None:
        self._gather_nodes(blocks[0].srcdata, blocks[0].srcdata[NID])
        self._gather_nodes(blocks[-1].dstdata, blocks[-1].dstdata[NID])
        if self.edge_feats:
            for b in blocks:
                self._gather_edges(b.edata, b.edata[EID])

    def _attach_graph(self, sg: Graph) -> None:
        if NID in sg.ndata and sg.num_nodes() == sg.ndata[NID].numel():
            self._gather_nodes(sg.ndata, sg.ndata[NID])
        if self.edge_feats and EID in sg.edata:
            self._gather_edges(sg.edata, sg.edata[EID])

    def _to_device(self, batch):
        if self.device is None:
            return batch
        if isinstance(batch, Graph):
            return batch.to(self.device)
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device)
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(b) for b in batch)
        return batch
