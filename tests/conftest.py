"""Shared test fixtures: the real datasets beside the project, and deterministic seeds."""

from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The folder of real datasets in their published formats (../shared/datasets)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _seed_threads_and_global_state(request):
    torch.manual_seed(0)
    # The suite runs on 2 cores with 2 pytest-xdist workers: one thread per worker. A second
    # OpenMP thread per worker oversubscribes the cores and makes tiny ops wait on each other.
    torch.set_num_threads(1)
    dtype = torch.get_default_dtype()
    grad_enabled = torch.is_grad_enabled()
    yield
    # Global torch state leaking out of one test breaks unrelated tests later in the same worker:
    # restore it, and fail the test that changed it so the culprit is named.
    leaked = []
    if torch.get_default_dtype() != dtype:
        leaked.append(f"default dtype {torch.get_default_dtype()}")
        torch.set_default_dtype(dtype)
    if torch.is_grad_enabled() != grad_enabled:
        leaked.append(f"grad mode {torch.is_grad_enabled()}")
        torch.set_grad_enabled(grad_enabled)
    if leaked:
        pytest.fail(f"{request.node.nodeid} leaked global torch state: {', '.join(leaked)}")
