"""Small local datasets and models for the task tests, independent of gnnkit.nn and gnnkit.data."""

from __future__ import annotations

import torch
from torch import nn

import gnnkit
from gnnkit.ops import gspmm, segment_reduce


def planted_partition_graph(num_classes=3, per_class=40, p_in=0.15, p_out=0.01, num_features=12, seed=0):
    """A stochastic block model graph with noisy class-indicator features and 10/10/rest masks."""
    generator = torch.Generator().manual_seed(seed)
    n = num_classes * per_class
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    same = labels[:, None] == labels[None, :]
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))
    upper = torch.triu(torch.rand(n, n, generator=generator) < prob, diagonal=1)
    src, dst = upper.nonzero(as_tuple=True)
    g = gnnkit.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
    features = torch.rand(n, num_features, generator=generator)
    features[torch.arange(n), labels] += 0.6
    g.ndata["feat"] = features
    g.ndata["label"] = labels
    position = torch.arange(n) % per_class
    g.ndata["train_mask"] = position < 10
    g.ndata["val_mask"] = (position >= 10) & (position < 20)
    g.ndata["test_mask"] = position >= 20
    return g


class NodeDatasetStandIn:
    def __init__(self, graph, num_classes, name="planted"):
        self.graph, self.num_classes, self.name = graph, num_classes, name

    def __getitem__(self, index):
        if index != 0:
            raise IndexError(index)
        return self.graph

    def __len__(self):
        return 1


class MeanAggregationNet(nn.Module):
    """h = relu(W1 x); out = W2 [h || mean_{u in N(v)} h_u], with dropout."""

    def __init__(self, in_feats, hidden, out_feats, dropout=0.5):
        super().__init__()
        self.lin1 = nn.Linear(in_feats, hidden)
        self.lin2 = nn.Linear(2 * hidden, out_feats)
        self.dropout = nn.Dropout(dropout)

    def forward(self, g, x):
        h = torch.relu(self.lin1(self.dropout(x)))
        neighbours = gspmm(g.sparse, "copy_u", "mean", h)
        return self.lin2(self.dropout(torch.cat([h, neighbours], dim=1)))


class GraphDatasetStandIn:
    """Graphs whose label is the majority of a one-hot node feature (3 node types, 2 classes)."""

    def __init__(self, num_graphs=60, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.items = []
        for index in range(num_graphs):
            label = index % 2
            n = int(torch.randint(5, 12, (1,), generator=generator))
            src = torch.arange(n)
            dst = (src + 1) % n
            g = gnnkit.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)
            weights = torch.tensor([0.7, 0.2, 0.1]) if label == 0 else torch.tensor([0.2, 0.7, 0.1])
            types = torch.multinomial(weights, n, replacement=True, generator=generator)
            g.ndata["feat"] = torch.nn.functional.one_hot(types, 3).float()
            self.items.append((g, label))
        self.num_classes = 2
        self.name = "majority"

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


class SumReadoutNet(nn.Module):
    """One sum-aggregation layer, mean readout per graph, linear classifier."""

    def __init__(self, in_feats, num_classes, hidden=16):
        super().__init__()
        self.lin1 = nn.Linear(in_feats, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)

    def forward(self, bg, x):
        h = torch.relu(self.lin1(x + gspmm(bg.sparse, "copy_u", "sum", x)))
        pooled = segment_reduce(bg.batch_num_nodes(), h, "mean")
        return self.lin2(pooled)
