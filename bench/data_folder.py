"""The benchmarks' data folder: ``--data-dir``, else ``$HF_MTL_DATA``, else ``../shared/data`` next to the repository."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` (read with :func:`data_dir_of`)."""
    parser.add_argument("--data-dir", default=None,
                        help="the shared data folder (default: $HF_MTL_DATA, else ../shared/data next to the repository)")


def data_dir_of(parser: argparse.ArgumentParser, args: argparse.Namespace, needs: str = "") -> Path:
    """The data folder the arguments name; a parser error unless it holds ``needs`` (a file or folder in it)."""
    folder = Path(args.data_dir or os.environ.get("HF_MTL_DATA") or REPO_ROOT.parent / "shared" / "data")
    if not (folder / needs).exists():
        parser.error(f"{folder / needs} does not exist (give --data-dir or set HF_MTL_DATA)")
    return folder
