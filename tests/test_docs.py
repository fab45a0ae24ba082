"""The documentation shows what the code does: `--help` transcripts regenerated from the live parser."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _update_cli_help():
    spec = importlib.util.spec_from_file_location("update_cli_help", ROOT / "docs" / "update_cli_help.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_help_transcripts_match_the_parser():
    updater = _update_cli_help()
    text = updater.CLI_DOC.read_text(encoding="utf-8")
    commands = [match.group("command").strip() for match in updater.BLOCK.finditer(text)]
    assert commands == ["", "train", "evaluate", "predict", "compare", "refine", "export", "push"]
    assert updater.rendered(text) == text, "docs/cli.md is out of date: run `python docs/update_cli_help.py`"


def test_every_subcommand_is_documented():
    from hf_mtl.workflow.cli import _parser

    parser = _parser()
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in subcommands:
        assert f"<!-- cli-help: {name} -->" in text, name


def test_makefile_uses_the_chosen_python():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe_lines = [line.strip() for line in makefile.splitlines() if line.startswith("\t")]
    assert not [line for line in recipe_lines if line.split()[0] in {"hf-mtl", "pytest", "pip"}], recipe_lines
