"""Sliding windows over a node time series for sequence-to-sequence forecasting.

A window starting at ``s`` reads steps ``s .. s + seq_len - 1`` and predicts
``s + seq_len .. s + seq_len + horizon - 1``. Windows are split in time order into train /
validation / test; the normalisation statistics come from the steps the **training** windows
cover only, so nothing of the validation or test period leaks into the inputs.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["StandardScaler", "SlidingWindowDataset"]


class StandardScaler:
    """z-score with a mean and standard deviation per feature (or one for all, ``per_feature=False``)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean = torch.as_tensor(mean)
        self.std = torch.as_tensor(std).clamp(min=1e-8)

    @classmethod
    def fit(cls, values: torch.Tensor, mask: torch.Tensor | None = None) -> "StandardScaler":
        """Statistics over all but the last dimension of ``values`` ([..., F]), ignoring masked-out entries."""
        flat = values.reshape(-1, values.shape[-1]).to(torch.float64)
        if mask is None:
            return cls(flat.mean(0).float(), flat.std(0, unbiased=False).float())
        keep = mask.reshape(-1, values.shape[-1]).to(torch.float64)
        count = keep.sum(0).clamp(min=1)
        mean = (flat * keep).sum(0) / count
        var = (((flat - mean) * keep) ** 2).sum(0) / count
        return cls(mean.float(), var.sqrt().float())

    def transform(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean.to(values)) / self.std.to(values)

    def inverse_transform(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.std.to(values) + self.mean.to(values)


class SlidingWindowDataset:
    """Windows ``seq_len -> horizon`` over ``series: [T, N, F]``.

    Args:
        series: the raw values ``[T, N, F]`` (a ``[T, N]`` array means ``F = 1``).
        seq_len, horizon: input and output window lengths.
        splits: fractions of the windows for (train, val, test), in time order.
        target_features: feature columns to predict (default: ``[0]``).
        normalize: z-score the target features with training statistics; other features
            (e.g. time of day) are left as given.
        zero_is_missing: zeros in a target feature are missing readings (DCRNN's convention):
            left out of the statistics and masked in the metrics.
        time_of_day: number of steps per day; when given, a time-of-day feature in [0, 1) is
            appended (as DCRNN does for METR-LA).
    """

    def __init__(
        self,
        series,
        seq_len: int = 12,
        horizon: int = 12,
        splits=(0.7, 0.1, 0.2),
        target_features=(0,),
        normalize: bool = True,
        zero_is_missing: bool = False,
        time_of_day: int | None = None,
    ):
        values = torch.as_tensor(np.asarray(series), dtype=torch.float32)
        if values.dim() == 2:
            values = values.unsqueeze(-1)
        if values.dim() != 3:
            raise ValueError(f"SlidingWindowDataset: series must be [T, N, F], got shape {tuple(values.shape)}")
        for name, value in (("seq_len", seq_len), ("horizon", horizon)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SlidingWindowDataset: {name} must be a positive int, got {value!r}")
        if len(splits) != 3 or any(s < 0 for s in splits) or abs(sum(splits) - 1.0) > 1e-6:
            raise ValueError(f"SlidingWindowDataset: splits must be three non-negative fractions summing to 1, got {splits}")
        num_windows = values.shape[0] - seq_len - horizon + 1
        if num_windows < 3:
            raise ValueError(f"SlidingWindowDataset: {values.shape[0]} steps are too few for seq_len={seq_len}, horizon={horizon}")
        self.target_features = list(target_features)
        if any(f < 0 or f >= values.shape[-1] for f in self.target_features):
            raise ValueError(f"SlidingWindowDataset: target_features {self.target_features} out of range for {values.shape[-1]} features")
        self.seq_len, self.horizon, self.zero_is_missing = seq_len, horizon, zero_is_missing
        self.raw = values
        num_train = int(round(splits[0] * num_windows))
        num_val = int(round(splits[1] * num_windows))
        starts = torch.arange(num_windows)
        self.split_starts = {"train": starts[:num_train], "val": starts[num_train : num_train + num_val], "test": starts[num_train + num_val :]}
        # Statistics from the steps that training windows read or predict, nothing later.
        train_end = max(1, num_train + seq_len + horizon - 1)
        train_values = values[:train_end, :, self.target_features]
        mask = (train_values != 0) if zero_is_missing else None
        self.scaler = StandardScaler.fit(train_values, mask)
        inputs = values.clone()
        if normalize:
            inputs[..., self.target_features] = self.scaler.transform(values[..., self.target_features])
        else:
            self.scaler = StandardScaler(torch.zeros(len(self.target_features)), torch.ones(len(self.target_features)))
        if time_of_day is not None:
            tod = (torch.arange(values.shape[0]) % time_of_day).float() / time_of_day
            inputs = torch.cat([inputs, tod.view(-1, 1, 1).expand(-1, values.shape[1], 1)], dim=-1)
        self.inputs = inputs  # [T, N, F'] model inputs (normalised)
        self.targets = values[..., self.target_features]  # [T, N, Fo] raw targets

    @property
    def num_nodes(self) -> int:
        return self.raw.shape[1]

    @property
    def in_feats(self) -> int:
        return self.inputs.shape[-1]

    @property
    def out_feats(self) -> int:
        return len(self.target_features)

    def num_windows(self, split: str) -> int:
        return self.split_starts[self._check_split(split)].numel()

    def _check_split(self, split: str) -> str:
        if split not in self.split_starts:
            raise ValueError(f"SlidingWindowDataset: split must be one of {list(self.split_starts)}, got {split!r}")
        return split

    def window(self, starts: torch.Tensor):
        """``(x [B, seq_len, N, F'], y [B, horizon, N, Fo], input snapshot ids [B, seq_len])``."""
        starts = torch.as_tensor(starts, dtype=torch.int64).reshape(-1)
        in_ids = starts[:, None] + torch.arange(self.seq_len)[None]
        out_ids = starts[:, None] + self.seq_len + torch.arange(self.horizon)[None]
        return self.inputs[in_ids], self.targets[out_ids], in_ids

    def batches(self, split: str, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None, drop_last: bool = False):
        """Yields ``window(...)`` tuples of up to ``batch_size`` windows of ``split``."""
        starts = self.split_starts[self._check_split(split)]
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"SlidingWindowDataset.batches: batch_size must be a positive int, got {batch_size!r}")
        if shuffle:
            starts = starts[torch.randperm(starts.numel(), generator=generator)]
        for i in range(0, starts.numel(), batch_size):
            chunk = starts[i : i + batch_size]
            if drop_last and chunk.numel() < batch_size:
                break
            yield self.window(chunk)

    def normalize_targets(self, y: torch.Tensor) -> torch.Tensor:
        return self.scaler.transform(y)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return self.scaler.inverse_transform(y)
