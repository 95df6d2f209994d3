"""``gnnkit datasets`` lists the registered datasets and whether their files are under the data
root; ``gnnkit info NAME`` prints one dataset's statistics. Both only call :mod:`gnnkit.data`.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import UsageError

_ROOT_HELP = "data root holding one folder per dataset (default: $GNNKIT_DATA or ~/.gnnkit/data)"


def add_parser(subparsers) -> None:
    listing = subparsers.add_parser("datasets", help="list available datasets", description="List the registered datasets.")
    listing.add_argument("--root", metavar="DIR", help=_ROOT_HELP)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_datasets)

    info = subparsers.add_parser("info", help="print a dataset's statistics", description="Print a dataset's statistics.")
    info.add_argument("name", metavar="NAME", help="dataset name (case-insensitive; see `gnnkit datasets`)")
    info.add_argument("--root", metavar="DIR", help=_ROOT_HELP)
    info.add_argument("--download", action="store_true", help="fetch missing files (checksummed) into the root")
    info.add_argument("--use-node-attr", action="store_true", help="TU datasets: include continuous node attributes")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=run_info)


def _root(args):
    from gnnkit.data import default_root

    if args.root is None:
        return default_root()
    root = Path(args.root).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--root: {args.root!r} is not a folder")
    return root


def run_datasets(args) -> int:
    from gnnkit.data import list_datasets

    root = _root(args)
    rows = list_datasets(root)
    if args.json:
        print(json.dumps({"root": str(root), "datasets": rows}, indent=2))
        return 0
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in ("name", "kind", "format", "status")}
    header = "  ".join(k.upper().ljust(widths[k]) for k in widths).rstrip()
    print(header)
    for row in rows:
        print("  ".join(str(row[k]).ljust(widths[k]) for k in widths).rstrip())
    found = sum(r["status"] in ("found", "embedded") for r in rows)
    print(f"\n{found} of {len(rows)} ready under {root} (others: `gnnkit info NAME --download`)")
    return 0


def run_info(args) -> int:
    from gnnkit.data import ChecksumError, DatasetNotFoundError, dataset_info, get_spec

    try:
        spec = get_spec(args.name)
    except ValueError as err:
        raise UsageError(str(err)) from None
    options = {"use_node_attr": True} if args.use_node_attr and spec.kind == "graph" else {}
    if args.use_node_attr and spec.kind != "graph":
        raise UsageError(f"--use-node-attr applies to TU graph datasets, not {spec.name}")
    try:
        info = dataset_info(spec.name, root=_root(args), download=args.download, **options)
    except (DatasetNotFoundError, ChecksumError, OSError) as err:
        raise UsageError(str(err)) from None
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " / ".join(str(v) for v in value)
        print(f"{key.ljust(width)}  {value}")
    return 0
