"""Issue #20, second round: `~` paths, writing into a model folder one reads, encoders missing weights, remote code
declared by a folder, and head weights the config does not name. Each case: one line on stderr, exit status 2,
nothing the user had is lost, nothing from the folder runs."""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, TINY_TASKS, tiny_bert_config
from safetensors.torch import load_file, save_file
from test_cli_reliability import TASKS, one_line_error, write_recipe

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.modeling.errors import HfMtlError
from hf_mtl.training.checkpoints import checkpoint_problem
from hf_mtl.workflow.cli import main
from hf_mtl.workflow.recipe import load_recipe
from hf_mtl.workflow.run_folders import OutputError, plan_training_output, refuse_same_folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("run")
    recipe = write_recipe(folder, tiny_encoder_dir, folder / "out")
    assert main(["train", str(recipe)]) == 0
    return folder / "out"


# ------------------------------------------------------------------ 1. `~` is the home folder everywhere
def test_tilde_output_dir_is_one_folder_for_checks_lock_and_resume(tmp_path, monkeypatch, capsys, tiny_encoder_dir):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    recipe = write_recipe(tmp_path, tiny_encoder_dir, "~/run")
    assert load_recipe(recipe).output_dir == str(tmp_path / "home" / "run")
    assert load_recipe(recipe, ["output_dir=~/other"]).output_dir == str(tmp_path / "home" / "other")
    (tmp_path / "home" / "encoder").symlink_to(tiny_encoder_dir)
    home_encoder = load_recipe(recipe, ["model.encoder=~/encoder", "data_dir=~/"])
    assert home_encoder.model.encoder == str(tmp_path / "home" / "encoder")
    assert home_encoder.data_dir == str(tmp_path / "home")
    assert main(["train", str(recipe)]) == 0
    assert (tmp_path / "home" / "run" / "model.safetensors").is_file() and not (tmp_path / "~").exists()
    assert main(["train", str(recipe)]) == 2  # the trained model is seen, not overwritten
    one_line_error(capsys, "already holds the checkpoints of a run")
    assert plan_training_output("~/run", resume=True).resume_from.endswith("checkpoint-4")
    assert main(["predict", "~/run", "--text", "Peter", "--output=~/p.jsonl"]) == 0
    assert (tmp_path / "home" / "p.jsonl").is_file()


# ------------------------------------------------------------------ 2. no command writes into a model it reads
def test_no_command_writes_into_the_model_folder_it_reads(trained, capsys, tmp_path, tiny_encoder_dir):
    config = (trained / "config.json").read_bytes()
    for target in (trained / "config.json", trained / "sub" / "p.jsonl"):
        assert main(["predict", str(trained), "--text", "hi", "--output", str(target)]) == 2
        one_line_error(capsys, "--output")
    assert main(["export", str(trained), "--task", "ner", str(trained / "ner")]) == 2
    one_line_error(capsys, "is inside the model folder it reads")
    assert (trained / "config.json").read_bytes() == config
    assert not (trained / "sub").exists() and not (trained / "ner").exists()
    with pytest.raises(OutputError, match="is inside the model folder it reads"):
        refuse_same_folder(trained, trained / "a" / ".." / "b")
    refuse_same_folder(trained, tmp_path / "elsewhere")  # outside: fine
    # train's output_dir inside (or equal to) the encoder it reads, even with --overwrite
    encoder = tmp_path / "encoder"
    encoder.symlink_to(tiny_encoder_dir)
    recipe = write_recipe(tmp_path, encoder, encoder)
    assert main(["train", str(recipe), "--overwrite"]) == 2
    one_line_error(capsys, "is the model folder it reads")


# ------------------------------------------------------------------ 4. an encoder missing weights is refused
@pytest.fixture(scope="module")
def encoder_without_a_layer(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("encoder-without-layer")
    for name in os.listdir(tiny_encoder_dir):
        if name != "model.safetensors":
            (folder / name).write_bytes((tiny_encoder_dir / name).read_bytes())
    state = load_file(tiny_encoder_dir / "model.safetensors")
    save_file({k: v for k, v in state.items() if ".layer.1." not in k}, folder / "model.safetensors",
              metadata={"format": "pt"})
    return folder


def test_an_encoder_missing_a_layer_is_refused_naming_count_and_example(encoder_without_a_layer, tmp_path, capsys):
    with pytest.raises(HfMtlError, match=r"cannot be loaded exactly: 16 encoder weight\(s\) are missing from its "
                                         r"weights file \(e\.g\. encoder\.layer\.1\."):
        MultiTaskModel.from_encoder(str(encoder_without_a_layer), tasks=TINY_TASKS)
    recipe = write_recipe(tmp_path, encoder_without_a_layer, tmp_path / "out")
    capsys.readouterr()
    assert main(["train", str(recipe)]) == 2
    one_line_error(capsys, "16 encoder weight(s) are missing")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_pretraining_head_weights_and_a_missing_pooler_are_fine(tmp_path):
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    BertForMaskedLM(tiny_bert_config()).save_pretrained(tmp_path)  # cls.predictions.*, no pooler
    model = MultiTaskModel.from_encoder(str(tmp_path), tasks=TINY_TASKS)
    state = load_file(tmp_path / "model.safetensors")
    assert torch.equal(model.encoder.embeddings.word_embeddings.weight, state["bert.embeddings.word_embeddings.weight"])


# ------------------------------------------------------------------ 6. a folder's code never runs
PAYLOAD = "import pathlib, os\npathlib.Path(os.environ['HF_MTL_MARKER']).write_text('ran')\n"


def _custom_code_folder(folder: Path, source: Path, in_tokenizer: bool) -> Path:
    folder.mkdir()
    for name in os.listdir(source):
        if (source / name).is_file():
            (folder / name).write_bytes((source / name).read_bytes())
    (folder / "payload.py").write_text(PAYLOAD + "class Payload:\n    pass\n")
    if in_tokenizer:
        settings = json.loads((folder / "tokenizer_config.json").read_text())
        settings.update(tokenizer_class="PayloadTokenizer", auto_map={"AutoTokenizer": ["payload.Payload", None]})
        (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    else:
        settings = json.loads((folder / "config.json").read_text())
        settings.update(model_type="payload-model", auto_map={"AutoConfig": "payload.Payload",
                                                               "AutoModel": "payload.Payload"})
        (folder / "config.json").write_text(json.dumps(settings))
    return folder


def _run_cli(args: list[str], marker: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "HF_MTL_MARKER": str(marker)}
    entry = "import sys; from hf_mtl.workflow.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", entry, *args], input="y\ny\ny\n", text=True,
                          capture_output=True, env=env, timeout=300, check=False)


def test_train_and_predict_refuse_a_folder_that_declares_custom_code(tmp_path, trained, tiny_encoder_dir):
    marker = tmp_path / "marker"
    encoder = _custom_code_folder(tmp_path / "encoder", tiny_encoder_dir, in_tokenizer=False)
    model = _custom_code_folder(tmp_path / "model", trained, in_tokenizer=True)
    recipe = write_recipe(tmp_path, encoder, tmp_path / "out")
    for args in (["train", str(recipe)], ["predict", str(model), "--text", "hi"]):
        done = _run_cli(args, marker)
        err = done.stderr.strip().splitlines()
        assert done.returncode == 2, done.stderr
        assert "declares custom code" in err[-1] and "hf_mtl never runs a folder's code" in err[-1], err
        assert "[y/N]" not in done.stderr and "Do you wish" not in done.stderr
        assert not marker.exists()


def test_every_from_pretrained_call_passes_trust_remote_code_false():
    # Calls that need not pass it, each with why: a class's own `from_pretrained` runs no code from the folder.
    allowed = {
        ("modeling/modeling_pretrained.py", "MultiTaskConfig.from_pretrained"),  # a config class: reads JSON only
        ("modeling/modeling_pretrained.py", "super().from_pretrained"),  # its kwargs carry trust_remote_code=False
        ("workflow/refine.py", "MultiTaskModel.from_pretrained"),  # the class sets trust_remote_code=False
        ("workflow/train.py", "MultiTaskModel.from_pretrained"),
        ("export/hub.py", "MultiTaskModel.from_pretrained"),
        # an onnxruntime session over the folder's graph; its config is read with trust_remote_code=False
        ("export/onnx_runtime.py", "OnnxMultiTaskModel.from_pretrained"),
    }
    found, seen = [], set()
    for path in sorted((REPO_ROOT / "hf_mtl").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT / "hf_mtl").as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            loads = (isinstance(func, ast.Attribute) and func.attr == "from_pretrained") or (
                isinstance(func, ast.Name) and func.id == "pipeline")
            if not loads:
                continue
            name = ast.unparse(func)
            if (relative, name) in allowed:
                seen.add((relative, name))
                continue
            if not any(k.arg == "trust_remote_code" and isinstance(k.value, ast.Constant) and k.value.value is False
                       for k in node.keywords):
                found.append(f"{relative}:{node.lineno}: {name}(...)")
    assert not found, found
    assert seen == allowed, allowed - seen  # the allow-list holds no stale entry


# ------------------------------------------------------------------ 7. head weights the config does not name
def test_extra_head_weights_are_an_error_unless_the_task_was_skipped_as_newer(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["tasks"]["tags"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"the weights have a head for task\(s\) \['tags'\] that config.json does "
                                         "not name"):
        MultiTaskModel.from_pretrained(tmp_path)
    # a newer hf_mtl's task this version cannot build: its head weights are tolerated
    config["tasks"]["tags"] = {"type": "future-kind", "labels": ["a"]}
    config["hf_mtl_version"] = "99.0.0"
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = MultiTaskModel.from_pretrained(tmp_path)
    assert model.config.skipped_tasks == ["tags"] and "tags" not in model.config.tasks
    assert "skipped_tasks" not in model.config.to_dict()
    assert MultiTaskConfig(encoder=tiny_bert_config(), tasks={}).skipped_tasks == []


# ------------------------------------------------------------------ 5. --resume refuses a changed recipe
def error_line(capsys, message):
    """The error's line (data preparation may print progress bars before the record can be compared)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and message in err.splitlines()[-1], err
    return err.splitlines()[-1]


def test_resume_refuses_changed_tasks_data_or_seed_unless_allowed(tmp_path, capsys, caplog, tiny_encoder_dir):
    data = tmp_path / "train.txt"
    data.write_bytes(Path(TASKS[0]["train"]).read_bytes())
    tasks = [{**TASKS[0], "train": str(data)}]
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", tasks=tasks)
    assert main(["train", str(recipe)]) == 0
    state_file = tmp_path / "out" / "checkpoint-4" / "trainer_state.json"
    record = json.loads(state_file.read_text())["stateful_callbacks"]["RunRecordCallback"]["attributes"]["record"]
    assert record["tasks"]["ner"]["labels"] == TASKS[0]["labels"] and record["seed"]["seed"] == 0
    assert main(["train", str(recipe), "--resume"]) == 0  # the same run: resumes

    # what the recipe alone tells is refused before any data is read: one line, no progress bar before it
    assert main(["train", str(recipe), "--resume", "seed=1"]) == 2
    one_line_error(capsys, 'was written by a different run (seed was {"data_seed": null, "seed": 0}, now')
    assert main(["train", str(recipe), "--resume", "sampling=uniform"]) == 2
    one_line_error(capsys, "sampling was")
    renamed = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", tasks=[{**tasks[0], "name": "entities"}])
    assert main(["train", str(renamed), "--resume"]) == 2
    one_line_error(capsys, "the tasks were ['ner'], now ['entities']")
    relabelled = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out",
                              tasks=[{**tasks[0], "labels": [*TASKS[0]["labels"], "B-X"]}])
    assert main(["train", str(relabelled), "--resume"]) == 2
    error_line(capsys, "task 'ner': its labels were")
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", tasks=tasks)
    data.write_text(data.read_text().replace("EU", "UN", 1))
    assert main(["train", str(recipe), "--resume"]) == 2
    err = error_line(capsys, "task 'ner': its train data changed")
    assert "--allow-changes" in err
    assert main(["train", str(recipe), "--resume", "--allow-changes"]) == 0
    assert main(["train", str(recipe), "--resume", "allow_changes=true", "seed=3"]) == 0

    # a checkpoint of an earlier version (no record) resumes, with a warning
    state = json.loads(state_file.read_text())
    del state["stateful_callbacks"]["RunRecordCallback"]
    state_file.write_text(json.dumps(state))
    caplog.clear()
    assert main(["train", str(recipe), "--resume", "seed=5"]) == 0
    assert "records no run settings (an earlier hf_mtl version)" in caplog.text


# ------------------------------------------------------------------ 3. a full disk never costs the trained model
def test_too_little_free_space_is_refused_before_training(tmp_path, capsys, monkeypatch, tiny_encoder_dir):
    import shutil as shutil_module

    from hf_mtl.workflow import disk

    real = shutil_module.disk_usage
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: real(path)._replace(free=3 << 20))
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out")
    assert main(["train", str(recipe)]) == 2
    err = error_line(capsys, f"output_dir {tmp_path / 'out'}: training needs about")
    assert "(the model 3.8 MiB + a checkpoint 11.4 MiB), but only 3.0 MiB are free" in err, err
    assert "HF_MTL_SKIP_DISK_CHECK=1" in err and not (tmp_path / "out" / "checkpoint-2").exists()
    monkeypatch.setenv("HF_MTL_SKIP_DISK_CHECK", "1")
    assert main(["train", str(recipe), "max_steps=1", "save_strategy=no"]) == 0


def _fail_final_save(monkeypatch):
    """safetensors' save raises ENOSPC for the final save (the staging folder) only: the checkpoints are written."""
    import errno

    import transformers.modeling_utils as modeling_utils

    real = modeling_utils.safe_save_file

    def save(tensors, filename, *args, **kwargs):
        if ".hf-mtl-final-save" in str(filename):
            Path(filename).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_save_file", save)


def test_a_failed_final_save_keeps_the_checkpoint_and_says_where(tmp_path, capsys, monkeypatch, tiny_encoder_dir):
    _fail_final_save(monkeypatch)
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out")
    assert main(["train", str(recipe)]) == 2
    out = tmp_path / "out"
    err = error_line(capsys, f"The final save into {out} failed (No space left on device); the trained weights of "
                             f"the last complete checkpoint are kept in {out / 'checkpoint-4'}")
    assert "--resume" in err
    assert not (out / "model.safetensors").exists() and not (out / ".hf-mtl-final-save").exists()
    assert checkpoint_problem(out / "checkpoint-4") is None
    monkeypatch.undo()
    assert main(["train", str(recipe), "--resume"]) == 0  # space freed: resume saves the model
    assert torch.equal(load_file(out / "model.safetensors")["heads.ner.classifier.weight"],
                       load_file(out / "checkpoint-4" / "model.safetensors")["heads.ner.classifier.weight"])


def test_a_failed_final_save_without_checkpoints_writes_a_rescue_copy(tmp_path, capsys, monkeypatch, tiny_encoder_dir):
    _fail_final_save(monkeypatch)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", save_strategy="no")
    assert main(["train", str(recipe)]) == 2
    err = error_line(capsys, "the trained weights were saved to")
    rescue = Path(re.search(r"saved to (\S+) instead", err).group(1))
    assert rescue.parent == tmp_path / "tmp" and MultiTaskModel.from_pretrained(rescue).task_names == ["ner"]


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, check=False)
    except OSError as error:  # no mount command
        pytest.skip(f"cannot mount a tmpfs here: {error}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


def test_a_real_file_system_that_fills_during_training_keeps_the_checkpoint(tmp_path, capsys, monkeypatch,
                                                                            tiny_encoder_dir):
    from hf_mtl.workflow.run_folders import GracefulInterrupt

    small = tmp_path / "small"
    _mount_tmpfs(small, "64m")
    try:
        recipe = write_recipe(tmp_path, tiny_encoder_dir, small / "out")

        def fill_after_the_last_checkpoint(self, args, state, control, **kwargs):
            if state.global_step == state.max_steps:  # another program takes the space left
                with open(small / "filler", "wb") as filler:
                    with contextlib.suppress(OSError):
                        while True:
                            filler.write(b"\0" * (1 << 16))
            return control

        monkeypatch.setattr(GracefulInterrupt, "on_save", fill_after_the_last_checkpoint, raising=False)
        assert main(["train", str(recipe)]) == 2
        err = error_line(capsys, "failed (No space left on device); the trained weights of the last complete "
                                 f"checkpoint are kept in {small / 'out' / 'checkpoint-4'}")
        assert "--resume" in err and checkpoint_problem(small / "out" / "checkpoint-4") is None
        (small / "filler").unlink()
        monkeypatch.undo()
        assert main(["train", str(recipe), "--resume"]) == 0 and (small / "out" / "model.safetensors").is_file()

        tiny = tmp_path / "tiny"
        _mount_tmpfs(tiny, "2m")
        try:
            recipe = write_recipe(tmp_path, tiny_encoder_dir, tiny / "out")
            assert main(["train", str(recipe)]) == 2
            error_line(capsys, "training needs about")
        finally:
            subprocess.run(["umount", str(tiny)], check=False)
    finally:
        subprocess.run(["umount", str(small)], check=False)
