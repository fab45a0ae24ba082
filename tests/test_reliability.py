"""Reliability guarantees (docs/reliability.md): determinism, safe loading, version drift, and the reader bugs the
fuzzers in test_fuzz.py found, pinned as examples. Interrupted training is in test_resume.py."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR, TINY_TASKS, tiny_bert_config
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel

import hf_mtl
from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data.readers import read_conll, read_conllu, read_split
from hf_mtl.data.tasks import DataSource, TaskSpec
from hf_mtl.modeling.errors import DataError, RecipeError
from hf_mtl.workflow.recipe import MODEL_KEYS, TRAINING_KEYS, RecipeLoader, load_recipe, parse_overrides

PACKAGE = Path(hf_mtl.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures"
TIMING = ("runtime", "per_second")


# ============================================================================ determinism
NER_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X"]


def _recipe(folder: Path, encoder: Path, seed: int = 0) -> Path:
    small = {"max_train_examples": 24, "max_eval_examples": 16, "max_length": 32}
    recipe = {
        "output_dir": str(folder / "model"),
        "model": {"encoder": str(encoder)},
        "tasks": [
            {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
             "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), "labels": NER_LABELS, **small},
            {"name": "pos", "type": "token-classification",
             "train": {"path": str(SAMPLES_DIR / "ud_en_ewt_train.conllu"), "tag_column": "upos"},
             "validation": {"path": str(SAMPLES_DIR / "ud_en_ewt_validation.conllu"), "tag_column": "upos"},
             "labels": UPOS, **small},
        ],
        "training": {"max_steps": 4, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "logging_steps": 2,
                     "save_strategy": "no", "sampling": "temperature", "disable_tqdm": True, "use_cpu": True,
                     "seed": seed},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def test_same_recipe_and_seed_give_the_same_metrics_and_weights(tmp_path, tiny_encoder_dir):
    from hf_mtl.workflow.train import train_recipe

    results, weights = [], []
    for run, global_seed in (("a", 1), ("b", 2)):
        folder = tmp_path / run
        folder.mkdir()
        torch.manual_seed(global_seed)  # whatever ran before: the recipe's seed alone must decide
        result = train_recipe(load_recipe(_recipe(folder, tiny_encoder_dir)), print_table=False)
        results.append({k: v for k, v in result.metrics.items() if not any(t in k for t in TIMING)})
        weights.append(load_file(str(folder / "model" / "model.safetensors")))
        summary = json.loads((folder / "model" / "train_summary.json").read_text())
        assert summary["examples_seen"] == result.examples_seen and sum(result.examples_seen.values()) == 4 * 4
    assert results[0] == results[1]
    assert {"eval_ner_f1", "eval_pos_accuracy", "eval_average", "eval_loss"} <= set(results[0])
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    # it trained: the encoder moved away from the starting weights
    start = load_file(str(tiny_encoder_dir / "model.safetensors"))
    moved = [name for name in start if not torch.equal(start[name], weights[0].get(f"encoder.{name}", start[name]))]
    assert moved


# ============================================================================ safe loading
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_package_source_never_unpickles_evaluates_or_trusts_remote_code():
    """AST scan of every hf_mtl module (docstrings, which mention trust_remote_code=True, are not calls)."""
    forbidden_calls = {"torch.load", "pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "joblib.load",
                       "cloudpickle.load", "marshal.load", "marshal.loads", "yaml.unsafe_load", "yaml.full_load",
                       "yaml.load_all", "eval", "exec", "compile", "__import__", "numpy.load", "np.load"}
    findings = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for alias in node.names}
        for name in ("pickle", "dill", "joblib", "cloudpickle", "marshal", "shelve"):
            if name in imports:
                findings.append(f"{path.name}: imports {name}")
        for call, name in _calls(tree):
            where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if name in forbidden_calls:
                findings.append(f"{where}: {name}(...)")
            if name == "yaml.load":
                loader = next((k.value for k in call.keywords if k.arg == "Loader"), None)
                if not (isinstance(loader, ast.Name) and loader.id == "RecipeLoader"):
                    findings.append(f"{where}: yaml.load without Loader=RecipeLoader")
            if name.endswith("import_module") and path.name != "__init__.py":
                findings.append(f"{where}: {name}(...) outside the lazy imports of hf_mtl/__init__.py")
            for keyword in call.keywords:
                value = keyword.value
                if keyword.arg == "trust_remote_code" and not (isinstance(value, ast.Constant) and value.value is False):
                    findings.append(f"{where}: trust_remote_code={ast.unparse(value)}")
                if keyword.arg in ("use_safetensors", "weights_only") and isinstance(value, ast.Constant) \
                        and value.value is False:
                    findings.append(f"{where}: {keyword.arg}=False")
    assert findings == []
    # YAML: the recipe loader is a SafeLoader (only plain YAML types), not a Full or Unsafe loader
    assert issubclass(RecipeLoader, yaml.SafeLoader)
    assert not issubclass(RecipeLoader, (yaml.FullLoader, yaml.UnsafeLoader))


def test_lazy_imports_take_no_module_name_from_outside():
    with pytest.raises(AttributeError):
        hf_mtl.__getattr__("os")
    with pytest.raises(AttributeError):
        hf_mtl.__getattr__("subprocess.run")


def test_no_setting_turns_on_remote_code_or_pickles():
    settings = set(TRAINING_KEYS) | set(MODEL_KEYS) | set(TaskSpec.field_names()) | {
        f for f in DataSource.__dataclass_fields__}
    assert not {"trust_remote_code", "use_safetensors", "weights_only", "revision"} & settings


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:subprocess.check_call [['touch', '{marker}']]",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_recipe_with_python_tags_is_refused_without_running_anything(tmp_path, payload):
    marker = tmp_path / "PWNED"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"output_dir: out\ntasks:\n  - name: ner\n    type: token-classification\n"
                      f"    train: {payload.format(marker=marker)}\n")
    with pytest.raises(RecipeError) as error:
        load_recipe(recipe)
    message = str(error.value)
    assert str(recipe) in message and "at line 5" in message
    assert "tags that build Python objects" in message
    with pytest.raises(RecipeError, match=r"Override 'model\.encoder=.*tags that build Python objects"):
        parse_overrides([f"model.encoder={payload.format(marker=marker)}"])
    assert not marker.exists()


def test_recipe_strings_are_never_dotted_imports(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("output_dir: out\ntasks:\n  - {name: ner, type: token-classification, train: x.txt, "
                      "metric: os.system}\n")
    with pytest.raises(RecipeError, match=r"`metric` must be one of seqeval, .*not 'os\.system'"):
        load_recipe(recipe)
    recipe.write_text("output_dir: out\ntasks:\n  - {name: ner, type: token-classification, train: x.txt}\n"
                      "training: {sampling: builtins.exec}\n")
    with pytest.raises(RecipeError, match="is not a sampling strategy"):
        load_recipe(recipe)


class _Payload:
    """Unpickling this runs code: it touches MARKER (what a hostile pytorch_model.bin would do)."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _pickle_only_folder(folder: Path, model: torch.nn.Module, marker: Path, hostile: bool) -> Path:
    model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    _Payload.marker = str(marker)
    torch.save({"payload": _Payload()} if hostile else model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("hostile", [False, True], ids=["plain-state-dict", "code-running-pickle"])
def test_pickle_weights_are_refused_not_unpickled(tmp_path, tiny_model, monkeypatch, hostile):
    marker = tmp_path / "PWNED"
    folder = _pickle_only_folder(tmp_path / "model", tiny_model, marker, hostile)
    encoder = tmp_path / "encoder"
    from transformers import BertModel

    _pickle_only_folder(encoder, BertModel(tiny_bert_config()), marker, hostile)
    unpickled = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or real_load(*a, **k))

    for load in (lambda: MultiTaskModel.from_pretrained(folder), lambda: AutoModel.from_pretrained(folder),
                 lambda: MultiTaskModel.from_encoder(str(encoder), tasks=TINY_TASKS)):
        with pytest.raises(OSError, match="no file named model.safetensors"):
            load()
    assert unpickled == []
    assert not marker.exists()


# ============================================================================ version drift
def test_model_saved_by_an_older_version_loads(tmp_path, caplog):
    old = json.loads((FIXTURES / "hf_mtl_0_0_9" / "config.json").read_text())
    assert old["hf_mtl_version"] == "0.0.9" and set(old["tasks"]["ner"]) == {"type", "id2label"}
    # weights as that version wrote them: same names (encoder.*, heads.<task>.*), safetensors
    torch.manual_seed(0)
    reference = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks={
        "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]},
        "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]}})).eval()
    folder = tmp_path / "old-model"
    folder.mkdir()
    shutil.copy(FIXTURES / "hf_mtl_0_0_9" / "config.json", folder / "config.json")
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, folder / "model.safetensors",
              metadata={"format": "pt"})

    with caplog.at_level("WARNING"):
        model = AutoModel.from_pretrained(folder).eval()
    assert isinstance(model, MultiTaskModel)
    assert "newer" not in caplog.text
    assert model.config.tasks["ner"] == {"type": "token-classification", "id2label": {0: "O", 1: "B-PER", 2: "I-PER"},
                                         "label2id": {"O": 0, "B-PER": 1, "I-PER": 2}, "dropout": None,
                                         "loss_weight": 1.0}
    assert model.config.tasks["sentiment"]["problem_type"] == "single_label_classification"
    loaded = model.state_dict()
    assert loaded.keys() == reference.state_dict().keys()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    inputs = {"input_ids": torch.tensor([[101, 2023, 2003, 102]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    for task in ("ner", "sentiment"):
        torch.testing.assert_close(model(**inputs, task=task).logits, reference(**inputs, task=task).logits,
                                   rtol=0, atol=1e-6)
    # saving it again writes the current version and the full task entries
    model.save_pretrained(tmp_path / "resaved")
    resaved = json.loads((tmp_path / "resaved" / "config.json").read_text())
    assert resaved["hf_mtl_version"] == hf_mtl.__version__
    assert resaved["tasks"]["ner"]["loss_weight"] == 1.0


def test_config_without_any_version_loads(tmp_path):
    data = json.loads((FIXTURES / "hf_mtl_0_0_9" / "config.json").read_text())
    del data["hf_mtl_version"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert AutoConfig.from_pretrained(tmp_path).task_names == ["ner", "sentiment"]


def test_model_from_a_newer_version_warns_and_loads_what_it_can(tiny_model, tmp_path, caplog):
    tiny_model.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["hf_mtl_version"] = "1.4.0rc1"
    data["tasks"]["spans"] = {"type": "span-classification", "id2label": {"0": "X"}, "max_span_length": 8}
    data["tasks"]["ner"]["crf"] = True
    (tmp_path / "config.json").write_text(json.dumps(data))
    weights = load_file(str(tmp_path / "model.safetensors"))
    weights["heads.spans.scorer.weight"] = torch.zeros(1, 32)
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})

    with caplog.at_level("WARNING"):
        model = AutoModel.from_pretrained(tmp_path).eval()
    assert "saved by hf_mtl 1.4.0rc1, newer than the running" in caplog.text
    assert "Task 'spans' (saved by hf_mtl 1.4.0rc1) cannot be loaded" in caplog.text
    assert "ignoring setting(s) ['crf']" in caplog.text
    assert sorted(model.task_names) == sorted(TINY_TASKS)
    inputs = {"input_ids": torch.tensor([[101, 7592, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    for task in TINY_TASKS:
        torch.testing.assert_close(model(**inputs, task=task).logits, tiny_model(**inputs, task=task).logits,
                                   rtol=0, atol=1e-6)


def test_current_config_with_an_unknown_task_type_is_still_an_error(tiny_config):
    data = tiny_config.to_dict()
    data["tasks"]["spans"] = {"type": "span-classification", "id2label": {"0": "X"}}
    with pytest.raises(ValueError, match="type 'span-classification' does not exist"):
        MultiTaskConfig(**{k: v for k, v in data.items() if k in ("encoder", "tasks", "hf_mtl_version")})


@pytest.mark.parametrize(("version", "expected"), [("0.2.0rc1", (0, 2, 0)), ("1.4", (1, 4)), (2.0, (2, 0)),
                                                   ("v3.1.4.dev2", (3, 1, 4)), ("unknown", ()), ("", ())])
def test_version_parsing(version, expected):
    from hf_mtl.modeling.configuration_multitask import _version_tuple

    assert _version_tuple(version) == expected


# ============================================================================ reader bugs the fuzzers found
def test_utf8_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    conll = tmp_path / "bom.txt"
    conll.write_bytes("\ufeffEU B-ORG\nrejects O\n".encode())
    assert read_conll(conll)["words"] == [["EU", "rejects"]]
    conllu = tmp_path / "bom.conllu"
    conllu.write_bytes("\ufeff# sent_id = 1\n1\tHi\t_\tINTJ\t_\t_\t0\troot\t_\t_\n".encode())
    assert read_conllu(conllu)["words"] == [["Hi"]]


def test_line_separator_characters_inside_words_do_not_split_lines(tmp_path):
    path = tmp_path / "tabs.txt"
    path.write_text("a\u2028b\tO\nc\x85d\tB-PER\n\ne\tO\tx\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:4: expected 2 columns \(as on line 1\), found 3"):
        read_conll(path)
    path.write_text("a\u2028b\tO\nc\x85d\tB-PER\n", encoding="utf-8")
    assert read_conll(path)["words"] == [["a\u2028b", "c\x85d"]]


def test_empty_word_in_a_tab_separated_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("EU\tB-ORG\n\tO\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}:2: column 0 \(the word\) is empty"):
        read_conll(path)


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("jsonl", 'null\n{"text": "a", "label": "x"}\n', r":1: expected a JSON object \(a record\), found null"),
        ("jsonl", '{"text": "a", "label": "x"}\n{"text": \n', r":2: not valid JSON"),
        ("jsonl", '{"text": "a", "label": "x"}\n[1, 2]\n', r":2: expected a JSON object \(a record\), found a list"),
        ("json", "[1, 2]", r": record 0 is a number, expected a JSON object"),
        ("json", "null", r": the file holds null; expected a list of JSON objects"),
        ("json", '{"text": "a", "label": "x"}\n3\n', r":2: expected a JSON object \(a record\), found a number"),
    ],
)
def test_json_records_are_checked_before_datasets_reads_them(tmp_path, fmt, content, message):
    # A first line `null` used to crash the whole process (a segfault in datasets' JSON reader, datasets 5.2 /
    # pyarrow 26); a list of numbers used to load as a `text` column.
    path = tmp_path / f"data.{fmt}"
    path.write_text(content, encoding="utf-8")
    spec = TaskSpec(name="topic", type="text-classification", train=str(path))
    with pytest.raises(DataError, match=rf"{path}{message}"):
        read_split(spec.train, spec, "train")


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("extra.tsv", "sentence\tlabel\nhello world\t1\textra\nbye\t0\tmore\n", {},
         r":2: 3 fields, but the header names 2 columns: \['hello world', '1', 'extra'\]; is there a stray '\\t'"),
        ("extra.csv", "text,label\n\"a, b\",pos\nc,neg,\n", {},
         r":3: 3 fields, but the header names 2 columns"),
        ("named.csv", "a,pos,x\n", {"has_header": False, "column_names": ["text", "label"]},
         r":1: 3 fields, but `column_names` names 2 columns"),
        ("empty.jsonl", "", {}, r": no data rows"),
        ("empty.json", "[]", {}, r": no data rows"),
    ],
)
def test_tables_that_would_load_shifted_or_crash_are_refused(tmp_path, name, content, options, message):
    # Rows with one field more than the header used to load with every column shifted (pandas took the first field
    # as an index): `sentence` held the labels. An empty JSON Lines file raised a bare StopIteration.
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    spec = TaskSpec(name="topic", type="text-classification", train=DataSource(path=str(path), **options),
                    text_column="sentence" if name.endswith(".tsv") else "text")
    with pytest.raises(DataError, match=rf"{path}{message}"):
        read_split(spec.train, spec, "train")


def test_table_values_are_read_as_written(tmp_path):
    # pandas used to guess types: a text column of numbers read "007" as "7.0", "1e5" as "100000.0".
    path = tmp_path / "numbers.csv"
    path.write_text('text,label\n007,01\n1e5,NA\n3.10,null\n"\r",x\n', encoding="utf-8")
    spec = TaskSpec(name="topic", type="text-classification", train=str(path))
    ds = read_split(spec.train, spec, "train").dataset
    assert ds["text"] == ["007", "1e5", "3.10", "\r"]
    assert ds["label"] == ["01", "NA", "null", "x"]


def test_training_value_that_transformers_rejects_names_the_setting(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("output_dir: out\ntasks:\n  - {name: ner, type: token-classification, train: x.txt}\n"
                      "training: {max_steps: 5, ddp_timeout: 86400000000000.0}\n")
    with pytest.raises(RecipeError, match=rf"{recipe}: training\.ddp_timeout: OverflowError"):
        load_recipe(recipe)


def test_conllu_columns_are_split_on_tabs_only(tmp_path):
    # conllu's line parser also splits on runs of 2+ spaces: "New  York" shifted the columns, and the UPOS read
    # was the LEMMA's value.
    path = tmp_path / "spaces.conllu"
    path.write_text("1\tNew  York\tnew york\tPROPN\tNNP\t_\t0\troot\t_\t_\n", encoding="utf-8")
    ds = read_conllu(path)
    assert ds["words"] == [["New  York"]] and ds["tags"] == [["PROPN"]]


def test_recipe_errors_cite_the_line_an_editor_shows(tmp_path):
    # YAML counts U+0085 (NEL) as a line break; editors do not.
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes('description: "a\u0085b"\noutput_dir: out\ntasks: [unclosed, x: :\n'.encode())
    with pytest.raises(RecipeError, match=rf"{recipe} is not valid YAML at line 3, column 22"):  # YAML: line 4
        load_recipe(recipe)


def test_a_bad_data_path_names_the_recipe_and_task(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("output_dir: out\ntasks:\n  - {name: ner, type: token-classification, train: ''}\n")
    with pytest.raises(RecipeError, match=rf"{recipe}: task 'ner', `train`: cannot tell the format of ''"):
        load_recipe(recipe)


def test_json_lines_in_a_json_file_still_load(tmp_path):
    path = tmp_path / "lines.json"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n', encoding="utf-8")
    spec = TaskSpec(name="topic", type="text-classification", train=str(path))
    assert read_split(spec.train, spec, "train").dataset["text"] == ["a", "b"]


def test_bad_yaml_in_an_override_names_the_override():
    with pytest.raises(RecipeError, match=r"Override 'max_steps=\[1': the value '\[1' is not a YAML scalar"):
        parse_overrides(["max_steps=[1"])
    with pytest.raises(RecipeError, match=r"Override '--learning_rate': the value '\*a'"):
        parse_overrides(["--learning_rate", "*a"])

