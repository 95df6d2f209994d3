"""Zachary's karate club (1977), embedded: the offline demo dataset (no files, no network).

The graph is networkx's ``karate_club_graph()`` (34 members, 78 friendships, stored in both
directions as 156 edges with the interaction counts in ``edata['weight']``). Labels are the two
clubs the members joined after the split (0 = Mr. Hi's, 1 = the Officer's: 17 / 17). Features
are the 34 x 34 identity, as in Kipf & Welling's karate demo and PyG's ``KarateClub``.

Split (fixed, so the demo is repeatable): the two leaders (nodes 0 and 33) plus two seeded
random members per club are training nodes (6), 8 further members are validation nodes and the
remaining 20 are test nodes.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import graph as make_graph
from .dataset import NodeDataset, coalesce_edges

__all__ = ["karate_club"]

_LEADERS = (0, 33)


def karate_club() -> NodeDataset:
    try:
        import networkx as nx
    except ImportError as err:  # networkx is in the 'full' and 'test' extras
        raise ImportError("KarateClub needs networkx: pip install networkx") from err
    nxg = nx.karate_club_graph()
    num_nodes = nxg.number_of_nodes()
    pairs = np.array([(u, v) for u, v in nxg.edges()], dtype=np.int64)  # [78, 2]
    weights = np.array([d.get("weight", 1.0) for _, _, d in nxg.edges(data=True)], dtype=np.float32)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    src, dst, weight = coalesce_edges(src, dst, num_nodes, np.concatenate([weights, weights]))
    label = np.array([0 if nxg.nodes[v]["club"] == "Mr. Hi" else 1 for v in range(num_nodes)], dtype=np.int64)

    rng = np.random.default_rng(0)
    train = list(_LEADERS)
    for club in (0, 1):
        candidates = [v for v in np.flatnonzero(label == club) if v not in _LEADERS]
        train += rng.choice(candidates, size=2, replace=False).tolist()
    rest = rng.permutation(np.setdiff1d(np.arange(num_nodes), train))
    split = {"train_mask": np.array(train), "val_mask": rest[:8], "test_mask": rest[8:]}

    g = make_graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    g.edata["weight"] = torch.from_numpy(weight)
    g.ndata["feat"] = torch.eye(num_nodes)
    g.ndata["label"] = torch.from_numpy(label)
    for mask_name, ids in split.items():
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(ids.astype(np.int64))] = True
        g.ndata[mask_name] = mask
    meta = {"format": "networkx karate_club_graph (embedded)", "split": "fixed: 6 train / 8 val / 20 test"}
    return NodeDataset("KarateClub", g, num_classes=2, meta=meta)
