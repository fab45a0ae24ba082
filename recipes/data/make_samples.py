"""Regenerate the small data samples shipped in ``recipes/data/`` from the full copies in ``shared/data/``.

Every sample is the FIRST N records of one source file (or, for AG News validation, the first N records
after row 6,080), copied byte-for-byte: a record is a sentence block for CoNLL / CoNLL-U / IOB2 files
(with its comment lines, and with any ``-DOCSTART-`` document lines before it) and a line for TSV / CSV
files (the header line is kept). Nothing is shuffled, so the output is deterministic.

Usage (from the repository root)::

    python recipes/data/make_samples.py                       # reads ../shared/data
    python recipes/data/make_samples.py --source /path/to/shared/data

The counts below are what ``recipes/data/SOURCE.md`` documents; keep the two in sync.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_TOTAL_BYTES = 3 * 1024 * 1024  # 3 MiB

# (output name, source file relative to shared/data, kind, start record, count)
SAMPLES: list[tuple[str, str, str, int, int]] = [
    ("conll2003_train.txt", "conll2003/train.txt", "conll", 0, 1500),
    ("conll2003_validation.txt", "conll2003/dev.txt", "conll", 0, 300),
    ("ud_en_ewt_train.conllu", "ud_en_ewt/train.conllu", "blocks", 0, 1000),
    ("ud_en_ewt_validation.conllu", "ud_en_ewt/dev.conllu", "blocks", 0, 100),
    ("sst2_train.tsv", "sst2/train.tsv", "lines_with_header", 0, 2000),
    ("sst2_validation.tsv", "sst2/dev.tsv", "lines_with_header", 0, 400),
    ("ag_news_train.csv", "ag_news/test.csv", "lines", 0, 2000),
    ("ag_news_validation.csv", "ag_news/test.csv", "lines", 6080, 400),
    ("uner_en_ewt_train.iob2", "uner_en_ewt/dev.iob2", "blocks", 0, 500),
    ("uner_en_ewt_validation.iob2", "uner_en_ewt/test.iob2", "blocks", 0, 200),
]


def _blocks(data: bytes, count: int, skip_docstart: bool) -> bytes:
    """The first ``count`` sentence blocks (blank-line separated), byte-for-byte, each ending with a blank line."""
    out: list[bytes] = []
    seen = 0
    for block in data.split(b"\n\n"):
        if not block.strip():
            continue
        out.append(block.strip(b"\n") + b"\n\n")
        if skip_docstart and block.strip().startswith(b"-DOCSTART-"):
            continue  # a document marker, not a sentence: kept, not counted
        seen += 1
        if seen == count:
            break
    if seen < count:
        raise SystemExit(f"only {seen} sentences available, {count} asked")
    return b"".join(out)


def _lines(data: bytes, start: int, count: int, header: bool) -> bytes:
    lines = data.split(b"\n")
    head = lines[:1] if header else []
    body = lines[1:] if header else lines
    chosen = body[start : start + count]
    if len(chosen) < count or not all(chosen):
        raise SystemExit(f"fewer than {count} non-empty lines after line {start}")
    return b"\n".join(head + chosen) + b"\n"


def make(source: Path, dest: Path = HERE) -> dict[str, int]:
    """Write every sample into ``dest`` and return ``{file name: size in bytes}``."""
    sizes: dict[str, int] = {}
    for name, rel, kind, start, count in SAMPLES:
        data = (source / rel).read_bytes()
        if kind == "conll":
            out = _blocks(data, count, skip_docstart=True)
        elif kind == "blocks":
            out = _blocks(data, count, skip_docstart=False)
        else:
            out = _lines(data, start, count, header=kind == "lines_with_header")
        (dest / name).write_bytes(out)
        sizes[name] = len(out)
    total = sum(sizes.values())
    if total > MAX_TOTAL_BYTES:
        raise SystemExit(f"samples are {total:,} bytes in all, over the {MAX_TOTAL_BYTES:,} budget")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=HERE.parents[2] / "shared" / "data")
    args = parser.parse_args()
    sizes = make(args.source)
    for name, size in sizes.items():
        print(f"{name:32s} {size:>10,} bytes")
    print(f"{'total':32s} {sum(sizes.values()):>10,} bytes")


if __name__ == "__main__":
    main()
