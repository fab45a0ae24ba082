"""Regenerate the `--help` transcripts in docs/cli.md from the real parser: `python docs/update_cli_help.py`.

The blocks between `<!-- cli-help: COMMAND -->` and `<!-- /cli-help -->` are rewritten with what
`hf-mtl COMMAND --help` prints at 100 columns; tests/test_docs.py fails when they differ from the live parser.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

CLI_DOC = Path(__file__).parent / "cli.md"
BLOCK = re.compile(r"(<!-- cli-help: (?P<command>[\w -]*?) -->\n)(?P<body>.*?)(<!-- /cli-help -->)", re.DOTALL)
COLUMNS = "100"


def help_text(command: str) -> str:
    """What `hf-mtl <command> --help` prints (`command` "" for the top level), at a fixed width."""
    from hf_mtl.workflow.cli import main

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*command.split(), "--help"])
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return out.getvalue()


def render_block(command: str) -> str:
    """The markdown of one transcript: the command line and its output in a code block."""
    shown = f"hf-mtl {command} --help" if command else "hf-mtl --help"
    return f"```\n$ {shown}\n{help_text(command).rstrip()}\n```\n"


def rendered(text: str) -> str:
    """``text`` (docs/cli.md) with every transcript block regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("command").strip()) + m.group(4), text)


if __name__ == "__main__":
    original = CLI_DOC.read_text(encoding="utf-8")
    updated = rendered(original)
    CLI_DOC.write_text(updated, encoding="utf-8")
    print("docs/cli.md updated" if updated != original else "docs/cli.md already up to date", file=sys.stderr)
