"""The backbone family matrix (issue #22): every encoder family of transformers, tried on a tiny random config.

The families are discovered from transformers (``family_matrix.discovered_families``): one that a new release adds
is tried here, or fails ``test_every_discovered_family_is_tried_or_reported`` until it has an entry in the family
table (``hf_mtl.modeling.encoder_families``) or in ``family_matrix.SKIP`` with the reason. ``docs/backbones.md``
shows the same checks' results (``python docs/update_backbones.py``).
"""

from __future__ import annotations

import json
import re

import family_matrix as fm
import pytest
import torch
from conftest import run_without_hf_mtl

from hf_mtl.modeling.encoder_families import ENCODER_FAMILIES, supports_gradient_checkpointing

FAMILIES = fm.matrix_families()
FAST_CHECKS = ("train", "reload", "pipeline", "export", "gradient_checkpointing", "pooling")


@pytest.fixture(autouse=True)
def _quiet_transformers():
    """The matrix builds dozens of random models: transformers' notices and warnings are silenced for its tests
    only (the logger's level is restored: a level left at ERROR would turn off the progress bars of later tests)."""
    import logging
    import warnings

    transformers_logger = logging.getLogger("transformers")
    level = transformers_logger.level
    with warnings.catch_warnings():
        fm.quiet()
        try:
            yield
        finally:
            transformers_logger.setLevel(level)


def test_every_discovered_family_is_tried_or_reported():
    discovered = set(fm.discovered_families())
    assert {"bert", "roberta", "deberta-v2", "modernbert", "canine", "longformer"} <= discovered
    assert not discovered & {"gpt2", "llama", "t5", "bart"}  # decoders and encoder-decoders are not encoders
    assert set(fm.SKIP) <= discovered, f"stale SKIP entries: {sorted(set(fm.SKIP) - discovered)}"
    untabled = sorted(discovered - set(fm.SKIP) - set(ENCODER_FAMILIES))
    assert not untabled, f"families without an entry in encoder_families.ENCODER_FAMILIES: {untabled}"
    assert all(reason for reason in fm.SKIP.values())


def _run(check, family, tmp_path):
    try:
        fm.CHECK_FUNCTIONS[check](family, tmp_path)
    except fm.Refused as refusal:
        return str(refusal)
    return None


@pytest.mark.parametrize("family", FAMILIES)
def test_family(family, tmp_path):
    """Train steps, save/reload, pipeline raw = pre-split, export logits equal, gradient checkpointing, pooling."""
    refused = {}
    for check in FAST_CHECKS:
        (tmp_path / check).mkdir()
        refusal = _run(check, family, tmp_path / check)
        if refusal:
            refused[check] = refusal
    expected = set()
    if not supports_gradient_checkpointing(fm.tiny_encoder_config(family)):
        expected.add("gradient_checkpointing")
    if fm.VARIANTS.get(family, (family,))[0] in fm.TEXT_EXPORT_REFUSED:
        expected |= {"export", "pooling"}
    assert set(refused) == expected, refused


def test_remote_code_every_family(tmp_path):
    """Each family's saved model loads with trust_remote_code where hf_mtl is not installed: the same logits."""
    expected = {}
    for family in FAMILIES:
        model = fm.build(family)
        model.save_pretrained(tmp_path / family)
        inputs = fm.batch(model)
        torch.save(inputs, tmp_path / family / "inputs.pt")
        with torch.no_grad():
            expected[family] = {task: model(**inputs, task=task).logits.tolist() for task in fm.TASKS}
    script = f"""
import json, torch
from transformers import AutoModel
out = {{}}
for family in {FAMILIES!r}:
    folder = {str(tmp_path)!r} + "/" + family
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    inputs = torch.load(folder + "/inputs.pt")
    with torch.no_grad():
        out[family] = {{task: model(**inputs, task=task).logits.tolist() for task in {list(fm.TASKS)!r}}}
print(json.dumps(out))
"""
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for family in FAMILIES:
        for task in fm.TASKS:
            torch.testing.assert_close(torch.tensor(got[family][task]), torch.tensor(expected[family][task]),
                                       msg=lambda m, f=family, t=task: f"{f} {t}: {m}")




def test_docs_table_lists_every_family():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "backbones.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    assert listed == set(FAMILIES) | (set(fm.SKIP) & set(fm.discovered_families())), (
        "docs/backbones.md is out of date: run `python docs/update_backbones.py`")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_family_onnx(family, tmp_path):
    """One graph with every head, checked by onnxruntime; the families of ``ONNX_REFUSED`` are refused in one line
    that names the cause, leaving no file (``check_onnx`` asserts it)."""
    refusal = _run("onnx", family, tmp_path)
    if family not in fm.ONNX_REFUSED:
        assert refusal is None, refusal
    else:
        assert refusal is not None and fm.ONNX_REFUSED[family][0] in refusal and "\n" not in refusal, refusal


def test_a_refused_onnx_trace_prints_nothing_before_the_one_line_error(tmp_path, capfd):
    """torch.export prints a failed trace's whole partial graph to stderr; hf_mtl holds it back (debug log only), so
    the user sees the one-line refusal alone (Longformer: data-dependent shapes)."""
    pytest.importorskip("onnxscript")
    refusal = _run("onnx", "longformer", tmp_path)
    assert refusal is not None and fm.ONNX_REFUSED["longformer"][0] in refusal
    captured = capfd.readouterr()
    assert "def forward" not in captured.err and "partial" not in captured.err.lower(), captured.err[:500]
