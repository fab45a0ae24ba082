"""notebooks/quickstart.ipynb runs top to bottom (tiny encoder, a few steps) and reports what it did."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from conftest import REPO_ROOT
from nbclient import NotebookClient

from hf_mtl.metrics import main_metric_key

NOTEBOOK = REPO_ROOT / "notebooks" / "quickstart.ipynb"
TASKS = ["ner", "pos", "sentiment", "topic"]
STEPS, BATCH, TRAIN_EXAMPLES, EVAL_EXAMPLES = 4, 16, 32, 16
ROW = re.compile(r"^(\w+)\s+(\w+) \((\w+)\)\s+([0-9.]+)$")


def stdout_of(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.get("name") == "stdout")


def code_cell(notebook, marker: str):
    cells = [cell for cell in notebook.cells if cell.cell_type == "code" and marker in cell.source]
    assert len(cells) == 1, marker
    return cells[0]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, tiny_encoder_dir):
    out = tmp_path_factory.mktemp("notebook")
    env = {
        "HF_MTL_NOTEBOOK_ENCODER": str(tiny_encoder_dir),
        "HF_MTL_NOTEBOOK_STEPS": str(STEPS),
        "HF_MTL_NOTEBOOK_TRAIN_EXAMPLES": str(TRAIN_EXAMPLES),
        "HF_MTL_NOTEBOOK_EVAL_EXAMPLES": str(EVAL_EXAMPLES),
        "HF_MTL_NOTEBOOK_OUTPUT": str(out),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("OMP_NUM_THREADS", "1")
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    return notebook, out


def test_final_cell_prints_each_tasks_metric_as_evaluated(executed):
    notebook, out = executed
    lines = stdout_of(notebook.cells[-1]).strip().splitlines()
    rows = {m.group(1): m for m in map(ROW.match, lines[1:-1]) if m}
    assert list(rows) == TASKS, lines
    saved = json.loads((out / "model" / "eval_results.json").read_text())
    scores = []
    for task, row in rows.items():
        metric, key, score = row.group(2), row.group(3), float(row.group(4))
        assert key == main_metric_key(metric) and 0.0 <= score <= 1.0
        assert score == pytest.approx(saved[f"eval_{task}_{key}"], abs=6e-5)  # printed to 4 decimals: at most half a unit off, plus float slack
        scores.append(score)
    assert (rows["ner"].group(2), rows["pos"].group(2)) == ("seqeval", "token_accuracy")
    average = float(lines[-1].split()[-1])
    assert lines[-1].startswith("average") and average == pytest.approx(sum(scores) / 4, abs=2e-4)


def test_settings_from_the_environment_are_used(executed, tiny_encoder_dir):
    notebook, out = executed
    sizes = stdout_of(code_cell(notebook, "prepare_task(spec, tokenizer)"))
    for task in TASKS:
        assert re.search(rf"^{task} .*train {TRAIN_EXAMPLES}, validation {EVAL_EXAMPLES}$", sizes, re.M), sizes
    trained = stdout_of(code_cell(notebook, "trainer.train()"))
    seen = eval(trained.split("examples seen per task:")[1].strip())  # a dict literal printed by the notebook
    assert sum(seen.values()) == STEPS * BATCH and set(seen) <= set(TASKS)
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["encoder"]["hidden_size"] == 32  # the tiny encoder, not the default MiniLM (384)
    assert list(config["tasks"]) == TASKS


def test_prediction_and_reload_cells(executed):
    notebook, out = executed
    printed = stdout_of(code_cell(notebook, "predict(model, tokenizer, texts)"))
    assert printed.count("  ner:") == printed.count("  topic:") == 2
    assert "Paris/" in printed and re.search(r"sentiment: (negative|positive) \(", printed)
    reloaded = stdout_of(code_cell(notebook, "AutoModel.from_pretrained(model_dir)"))
    assert f"MultiTaskModel reloaded from {out / 'model'}: same logits for {TASKS}" in reloaded
    for name in ("model.safetensors", "tokenizer.json", "modeling_multitask.py"):
        assert (out / "model" / name).is_file(), name


def test_committed_notebook_has_no_errors_or_stray_state():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and "HF_MTL_NOTEBOOK_ENCODER" in code[0].source and "HF_MTL_NOTEBOOK_STEPS" in code[0].source
    outputs = [output for cell in code for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    counts = [cell.execution_count for cell in code]
    # either never run, or run once top to bottom
    assert all(count is None for count in counts) or counts == list(range(1, len(code) + 1))
