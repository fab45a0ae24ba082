"""What a command-line user can get wrong or interrupt (issue #15): every case ends in one line on stderr and exit
status 2 (130 for Ctrl-C), before any data is read or anything trains, and nothing the user had is lost."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR, TINY_TASKS, tiny_bert_config
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, BertModel, TrainerCallback

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data.readers import read_split
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.errors import DataError, RecipeError
from hf_mtl.training.checkpoints import checkpoint_problem
from hf_mtl.workflow.cli import main
from hf_mtl.workflow.recipe import load_recipe

TASKS = [
    {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
     "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), "max_train_examples": 16, "max_eval_examples": 8,
     "max_length": 32, "labels": ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]},
]
TRAINING = {"max_steps": 4, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "save_strategy": "steps",
            "save_steps": 2, "disable_tqdm": True, "use_cpu": True, "seed": 0, "dataloader_pin_memory": False}


def write_recipe(folder, encoder, output_dir, tasks=None, **training):
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(output_dir), "model": {"encoder": str(encoder)},
                                    "tasks": tasks or TASKS, "training": {**TRAINING, **training}}, sort_keys=False))
    return path


def one_line_error(capsys, message):
    err = capsys.readouterr().err.strip()
    assert message in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ training arguments fail at once, by name
@pytest.mark.parametrize(("override", "message"), [
    ("max_steps=-5", "training.max_steps: must be >= 1 (or leave it out and set num_train_epochs), got -5"),
    ("max_steps=0", "training.max_steps: must be >= 1"),
    ("max_steps=ten", "training.max_steps: expected an integer, got str 'ten'"),
    ("max_steps='10'", "training.max_steps: expected an integer, got str '10'"),
    ("max_steps=2.5", "training.max_steps: expected an integer, got float 2.5"),
    ("learning_rate=fast", "training.learning_rate: expected a number, got str 'fast'"),
    ("learning_rate=.nan", "training.learning_rate: expected a finite number"),
    ("per_device_train_batch_size=0", "training.per_device_train_batch_size: must be >= 1, got 0"),
    ("gradient_accumulation_steps=-1", "training.gradient_accumulation_steps: must be >= 1"),
    ("num_train_epochs=0", "training.num_train_epochs: must be > 0, got 0"),
    ("save_steps=-2", "training.save_steps: must be > 0"),
    ("fp16=maybe", "training.fp16: expected true or false, got str 'maybe'"),
])
def test_training_argument_errors_name_the_field_before_any_data_is_read(tmp_path, override, message, capsys):
    recipe = write_recipe(tmp_path, "embedded", tmp_path / "out",
                          tasks=[{**TASKS[0], "train": str(tmp_path / "missing.txt")}])
    assert main(["train", str(recipe), override]) == 2  # the missing data file is never reached
    one_line_error(capsys, message)
    assert not (tmp_path / "out").exists()


def test_integral_floats_are_integers_and_resume_from_checkpoint_is_not_ignored(tmp_path):
    recipe = write_recipe(tmp_path, "embedded", tmp_path / "out")
    loaded = load_recipe(recipe, ["max_steps=1e3", "resume_from_checkpoint=true"])
    assert loaded.training_arguments().max_steps == 1000
    assert loaded.resume is True and "resume_from_checkpoint" not in loaded.training
    assert load_recipe(recipe, ["resume=out/checkpoint-4"]).resume == "out/checkpoint-4"
    with pytest.raises(RecipeError, match="disagree"):
        load_recipe(recipe, ["resume=a", "resume_from_checkpoint=b"])
    with pytest.raises(RecipeError, match="`overwrite` must be true or false"):
        load_recipe(recipe, ["overwrite=3"])


# ------------------------------------------------------------------ labels
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan"])
def test_non_finite_regression_targets_are_data_errors(tmp_path, fmt, value):
    path = tmp_path / f"train.{fmt}"
    if fmt == "jsonl":
        number = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}.get(value, value)
        path.write_text(f'{{"text": "a", "label": 0.5}}\n{{"text": "b", "label": {number}}}\n')
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"text{sep}label\na{sep}0.5\nb{sep}{value}\n")
    spec = TaskSpec.from_dict({"name": "score", "type": "text-classification", "problem_type": "regression",
                               "train": str(path)})
    where = r"row 2 \(line 3\)" if fmt != "jsonl" else r"row 2 \(line 2\)"  # the line the row is on
    message = rf"{path.name}.*{where}: regression target .* in column 'label' is not a finite number"
    if fmt == "jsonl" and value == "1e400":  # too large for pyarrow's reader: caught when the lines are checked
        message = rf"{path.name}:2: field 'label': the number is too large for a 64-bit float"
    with pytest.raises(DataError, match=message):
        read_split(spec.train, spec, "train")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_an_empty_label_cell_is_a_data_error_not_a_class(tmp_path, fmt):
    path = tmp_path / f"train.{fmt}"
    if fmt == "jsonl":
        path.write_text('{"text": "a", "label": "pos"}\n{"text": "b", "label": ""}\n')
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"text{sep}label\na{sep}pos\nb{sep}\n")
    spec = TaskSpec.from_dict({"name": "sentiment", "type": "text-classification", "train": str(path)})
    line = 2 if fmt == "jsonl" else 3
    with pytest.raises(DataError, match=rf"{path.name}.*row 2 \(line {line}\): the label is empty"):
        read_split(spec.train, spec, "train")
    # multi-label: an empty cell is an example without labels, as before
    multi = TaskSpec.from_dict({"name": "tags", "type": "text-classification", "problem_type":
                                "multi_label_classification", "label_separator": "|", "train": str(path)})
    assert read_split(multi.train, multi, "train").dataset["label"] == [["pos"], []]


def test_conllu_skip_notes_quote_the_real_ids(tmp_path):
    path = tmp_path / "t.conllu"
    rows = ["# sent_id = s-17", "1\tI\tI\tPRON\t_\t_\t0\t_\t_\t_", "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_",
            "2\tdo\tdo\tAUX\t_\t_\t0\t_\t_\t_", "3\tn't\tnot\tPART\t_\t_\t0\t_\t_\t_",
            "3.1\tx\tx\tX\t_\t_\t_\t_\t_\t_", ""]
    path.write_text("\n".join(rows) + "\n")
    spec = TaskSpec.from_dict({"name": "pos", "type": "token-classification",
                               "train": {"path": str(path), "tag_column": "upos"}})
    notes = " ".join(read_split(spec.train, spec, "train").notes)
    assert "skipped 1 multi-word token lines (first: '2-3' at line 3 in sentence 's-17')" in notes
    assert "skipped 1 empty nodes (first: '3.1' at line 6 in sentence 's-17')" in notes


# ------------------------------------------------------------------ model folders that cannot be loaded exactly
@pytest.fixture(scope="module")
def broken_models(tmp_path_factory, tiny_encoder_dir):
    root = tmp_path_factory.mktemp("broken")
    torch.manual_seed(0)
    good = root / "good"
    MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TINY_TASKS)).save_pretrained(good)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(good)

    def clone(name):
        return shutil.copytree(good, root / name)

    def edit_config(folder, change):
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))

    def edit_weights(folder, change):
        weights = load_file(str(folder / "model.safetensors"))
        save_file(change(weights), str(folder / "model.safetensors"), metadata={"format": "pt"})

    data = (good / "model.safetensors").read_bytes()
    (clone("truncated") / "model.safetensors").write_bytes(data[: len(data) // 2])
    pickled = clone("pickle_only")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    (clone("bad_json") / "config.json").write_text('{"model_type": "hf-mtl", ')
    edit_config(clone("label_count"), lambda c: c["tasks"]["sentiment"]["id2label"].update({"2": "neutral"}))
    edit_config(clone("head_missing"), lambda c: c["tasks"].update(extra=dict(c["tasks"]["sentiment"])))
    edit_weights(clone("encoder_missing"), lambda w: {k: v for k, v in w.items() if not k.startswith("encoder.")})
    edit_weights(clone("unexpected"), lambda w: {**w, "encoder.lora_A.weight": torch.zeros(2)})
    no_tokenizer = clone("no_tokenizer")
    for name in os.listdir(no_tokenizer):
        if name.startswith(("tokenizer", "vocab", "special_tokens")):
            os.remove(no_tokenizer / name)
    BertModel(tiny_bert_config()).save_pretrained(root / "plain_bert")
    return root


BROKEN = {
    "truncated": "model.safetensors is unreadable",
    "pickle_only": "no file named model.safetensors",
    "bad_json": "config.json is not a valid JSON object",
    "label_count": "do not have the shape config.json gives them (a label count or size differs), e.g. "
                   "heads.sentiment.classifier",
    "head_missing": "config.json names task(s) ['extra'] but the weights have no head for them",
    "encoder_missing": "encoder weight(s) are missing",
    "unexpected": "1 weight(s) are not part of this model (e.g. encoder.lora_A.weight)",
    "no_tokenizer": "Cannot load a tokenizer from the folder",
    "plain_bert": "is a 'bert' model, not an hf_mtl multi-task model",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_model_folder_that_cannot_be_loaded_is_one_line_and_exit_2_from_every_command(
    broken_models, case, capsys, tmp_path
):
    folder = str(broken_models / case)
    recipe = write_recipe(tmp_path, "embedded", tmp_path / "out")
    commands = [["predict", folder, "--text", "hi"], ["export", folder, "--task", "sentiment", str(tmp_path / "x")],
                ["evaluate", folder, str(recipe)]]
    for command in commands:
        assert main(command) == 2, command
        one_line_error(capsys, BROKEN[case])
    assert not (tmp_path / "x").exists()


def test_strict_loading_keeps_the_lenient_options(broken_models):
    model, info = MultiTaskModel.from_pretrained(broken_models / "good", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    lenient = MultiTaskModel.from_pretrained(broken_models / "label_count", ignore_mismatched_sizes=True)
    assert lenient.heads["sentiment"].classifier.out_features == 3


# ------------------------------------------------------------------ output locations
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_encoder_dir):
    folder = tmp_path_factory.mktemp("run")
    recipe = write_recipe(folder, tiny_encoder_dir, folder / "out")
    assert main(["train", str(recipe)]) == 0
    return folder, recipe


def test_rerunning_into_a_trained_folder_is_refused_and_deletes_nothing(trained_run, capsys):
    folder, recipe = trained_run
    before = sorted(p.name for p in (folder / "out").iterdir())
    assert {"checkpoint-2", "checkpoint-4", "model.safetensors"} <= set(before)
    assert main(["train", str(recipe)]) == 2
    one_line_error(capsys, "already holds the checkpoints of a run (newest complete: checkpoint-4): pass --resume to "
                           "continue it, or --overwrite to start over")
    assert sorted(p.name for p in (folder / "out").iterdir()) == before


def test_an_output_dir_with_the_users_files_or_under_a_file_is_refused_before_data_is_read(tmp_path, capsys,
                                                                                        tiny_encoder_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("my own notes")
    tasks = [{**TASKS[0], "train": str(tmp_path / "missing.txt")}]
    recipe = write_recipe(tmp_path, tiny_encoder_dir, out, tasks=tasks)
    assert main(["train", str(recipe)]) == 2
    one_line_error(capsys, "holds README.md, which training would overwrite")
    assert (out / "README.md").read_text() == "my own notes"
    (tmp_path / "file").write_text("")
    assert main(["train", str(recipe), f"output_dir={tmp_path / 'file' / 'run'}"]) == 2
    one_line_error(capsys, "is under")
    assert main(["compare", str(recipe), "--compare-dir", str(tmp_path / "file")]) == 2
    one_line_error(capsys, "the comparison folder")


def test_a_folder_locked_by_a_running_run_is_refused(tmp_path, capsys, tiny_encoder_dir):
    from hf_mtl.workflow.run_folders import OutputLock

    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out")
    with OutputLock(tmp_path / "out", command="hf-mtl train other.yaml"):
        assert main(["train", str(recipe)]) == 2
        one_line_error(capsys, f"Another hf-mtl run is writing to {tmp_path / 'out'} (pid {os.getpid()}")


class SendCtrlC(TrainerCallback):
    """Sends this process a SIGINT after optimizer step 1, as a Ctrl-C in the terminal would."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resume_finishes(tmp_path, capsys, tiny_encoder_dir, monkeypatch):
    import hf_mtl.workflow.train as workflow

    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", save_steps=10)
    build = workflow.build_trainer

    def with_ctrl_c(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.add_callback(SendCtrlC())
        return trainer

    monkeypatch.setattr(workflow, "build_trainer", with_ctrl_c)
    assert main(["train", str(recipe)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"interrupted after step 2 of 4; saved {tmp_path / 'out' / 'checkpoint-2'}. Resume with: hf-mtl train " \
           f"{recipe} --resume" in err
    assert checkpoint_problem(tmp_path / "out" / "checkpoint-2") is None
    assert not (tmp_path / "out" / "model.safetensors").exists()
    monkeypatch.setattr(workflow, "build_trainer", build)
    assert main(["train", str(recipe), "--resume"]) == 0
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert sum(summary["examples_seen"].values()) == 4 * 4  # the counts continued from the checkpoint


def test_overwrite_starts_over_and_removes_only_the_old_checkpoints(tmp_path, capsys, tiny_encoder_dir):
    out = tmp_path / "out"
    (out / "checkpoint-40").mkdir(parents=True)  # an earlier, longer run's checkpoint
    (out / "notes.txt").write_text("mine")
    recipe = write_recipe(tmp_path, tiny_encoder_dir, out, max_steps=2)
    assert main(["train", str(recipe)]) == 2
    one_line_error(capsys, "--overwrite")
    assert main(["train", str(recipe), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-2"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.safetensors").is_file()


def test_predict_and_export_check_their_outputs_first(trained_run, capsys, tmp_path):
    folder, _ = trained_run
    model = str(folder / "out")
    (tmp_path / "file").write_text("")
    assert main(["predict", model, "--text", "hi", "--output", str(tmp_path / "file" / "p.jsonl")]) == 2
    one_line_error(capsys, "is under")
    assert main(["predict", model, "--text", "Peter lives in Berlin", "--output", str(tmp_path / "new" / "p.jsonl")]) == 0
    assert json.loads((tmp_path / "new" / "p.jsonl").read_text())["text"] == "Peter lives in Berlin"
    inputs = tmp_path / "in.txt"
    inputs.write_text("a\n")
    assert main(["predict", model, "--input", str(inputs), "--output", str(inputs)]) == 2
    one_line_error(capsys, "--output")
    assert inputs.read_text() == "a\n"
    assert main(["predict", model, "--input", str(tmp_path)]) == 2
    one_line_error(capsys, "is a folder; give a text file")
    assert main(["predict", model, "--text", "hi", "--batch-size", "0"]) == 2
    one_line_error(capsys, "--batch-size must be an integer >= 1, got 0")
    assert main(["predict", model, "--text", "a b c", "--stride", "4"]) == 0

    weights = (folder / "out" / "model.safetensors").read_bytes()
    assert main(["export", model, "--task", "ner", model]) == 2
    one_line_error(capsys, "is the model folder it reads")
    assert (folder / "out" / "model.safetensors").read_bytes() == weights
    assert main(["export", model, "--task", "ner", str(tmp_path / "ner")]) == 0
    assert main(["export", model, "--task", "ner", str(tmp_path / "ner")]) == 2
    one_line_error(capsys, "already holds a model")
    assert main(["export", model, "--task", "ner", str(tmp_path / "ner"), "--overwrite"]) == 0
    assert main(["push", model, model]) == 2
    one_line_error(capsys, "is the model folder it reads")


# ------------------------------------------------------------------ issue #20: inputs of predict, checks before training
def test_predict_input_splits_on_newlines_only_and_reads_fifos(trained_run, capsys, tmp_path, monkeypatch):
    model = str(trained_run[0] / "out")
    inputs = tmp_path / "in.txt"
    inputs.write_bytes("a\fb\nc\u2028d\r\ne\x85f\ng\x0bh\n\ni\x1cj\n".encode())  # 5 lines (and a blank one)
    assert main(["predict", model, "--input", str(inputs)]) == 0
    texts = [json.loads(line)["text"] for line in capsys.readouterr().out.strip("\n").split("\n")]
    assert texts == ["a\fb", "c\u2028d", "e\x85f", "g\x0bh", "i\x1cj"]  # before: 8 outputs (str.splitlines)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("x\ny\n"))
    writer.start()
    assert main(["predict", model, "--input", str(fifo)]) == 0  # before: "does not exist"
    writer.join()
    assert len(capsys.readouterr().out.splitlines()) == 2
    piped = subprocess.run([sys.executable, "-m", "hf_mtl", "predict", model, "--input", "/dev/stdin"],
                           input=b"p\nq\n", capture_output=True, timeout=120)  # /dev/stdin is a pipe here
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 2, piped.stderr
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"fine\n\xff\xfe bad\n")))
    assert main(["predict", model, "--input", "-"]) == 2  # before: a UnicodeDecodeError traceback
    one_line_error(capsys, "stdin is not UTF-8 text: byte b'\\xff' at offset 5 (line 2)")
    assert main(["predict", model, "--input", str(tmp_path / "missing.txt")]) == 2
    one_line_error(capsys, "missing.txt does not exist")


def test_symlink_loops_as_outputs_fail_before_any_prediction(trained_run, capsys, tmp_path, monkeypatch):
    model = str(trained_run[0] / "out")
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    monkeypatch.setattr("hf_mtl.modeling.inference.predict", lambda *args, **kwargs: pytest.fail("predicted"))
    assert main(["predict", model, "--text", "hi", "--output", str(tmp_path / "a")]) == 2
    one_line_error(capsys, "is a symbolic link that loops")
    assert main(["predict", model, "--input", str(tmp_path / "a")]) == 2
    one_line_error(capsys, "is a symbolic link that loops")
    assert main(["export", model, "--task", "ner", str(tmp_path / "a")]) == 2
    one_line_error(capsys, "is a symbolic link that loops")


def _sentiment_task(path, **settings):
    return {"name": "sentiment", "type": "text-classification", "train": str(path), "validation": str(path), **settings}


@pytest.mark.parametrize(("change", "message"), [
    ({"tasks": "one_class"}, "the training split (tsv file"),
    ({"tasks": "long"}, "`max_length: 512` is above what the encoder (bert) can read: 128 tokens"),
    ({"metric_for_best_model": "accuracy"}, "training.metric_for_best_model: 'accuracy' (read as 'eval_accuracy') "
                                            "names no metric of this run"),
])
def test_problems_only_the_data_and_model_tell_are_found_before_training(tmp_path, capsys, tiny_encoder_dir, change,
                                                                         message):
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\n" + "".join(f"text {i}\tpos\n" for i in range(8)))
    tasks = [_sentiment_task(data)] if change.get("tasks") == "one_class" else [dict(TASKS[0])]
    if change.get("tasks") == "long":
        tasks[0]["max_length"] = 512
    training = {key: value for key, value in change.items() if key != "tasks"}
    if training:
        training.update(eval_strategy="steps", eval_steps=2, load_best_model_at_end=True)
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", tasks=tasks, **training)
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()  # after the tokenizing progress bars: one error line, no traceback
    assert message in err.splitlines()[-1] and "Traceback" not in err, err
    assert "Cannot load the encoder" not in err
    assert not list((tmp_path / "out").glob("checkpoint-*"))  # nothing trained


def test_a_problem_type_that_differs_from_the_models_is_refused(tmp_path, capsys, tiny_encoder_dir):
    saved = tmp_path / "model"
    MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks={"sentiment": TINY_TASKS["sentiment"]}).save_pretrained(saved)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(saved)
    data = tmp_path / "d.tsv"
    data.write_text("text\tlabel\na\tnegative|positive\nb\tpositive\n")
    task = _sentiment_task(data, problem_type="multi_label_classification", label_separator="|")
    recipe = write_recipe(tmp_path, tiny_encoder_dir, tmp_path / "out", tasks=[task])
    assert main(["evaluate", str(saved), str(recipe)]) == 2
    one_line_error(capsys, "task 'sentiment' is a problem_type 'multi_label_classification' task in the recipe but "
                           "'single_label_classification' in")
    raw = yaml.safe_load(recipe.read_text())
    raw["model"] = {"from_model": str(saved)}
    recipe.write_text(yaml.safe_dump(raw))
    assert main(["train", str(recipe)]) == 2
    one_line_error(capsys, "set `problem_type: single_label_classification` on the task")


def test_a_tokenizer_error_keeps_the_list_it_announces(monkeypatch, tmp_path):
    from hf_mtl.workflow import train

    def fail(*args, **kwargs):
        raise ValueError("Couldn't instantiate the backend tokenizer from one of: \n(1) a `tokenizers` library "
                         "serialization file, \n(2) a slow tokenizer instance to convert or \n(3) an equivalent slow "
                         "tokenizer class to instantiate and convert. \nYou need to have sentencepiece installed.")

    monkeypatch.setattr(train.AutoTokenizer, "from_pretrained", fail)
    with pytest.raises(RecipeError) as caught:
        train.load_tokenizer(str(tmp_path))
    message = str(caught.value)
    assert "one of: (1) a `tokenizers` library serialization file, (2)" in message and "sentencepiece" in message
    assert "\n" not in message


def test_an_error_line_is_one_line_and_bounded(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("output_dir: out\ntasks:\n  - name: s\n    type: text-classification\n    train: d.csv\n"
                      "    text_column: {" + ", ".join(f"column{i}: {i}" for i in range(3000)) + "}\n")
    assert main(["train", str(recipe)]) == 2  # the message quotes the whole mapping: the line is cut
    err = one_line_error(capsys, "`text_column` must be a column name")
    assert len(err) < 2200 and "more characters)" in err
