"""Sentence-pair tasks served as trained: config.json records them, the pipeline takes {"text", "text_pair"} (and
lists of them) encoded as in training, tasks that need another input are skipped and named, `hf-mtl predict` reads
pairs from the command line, TSV and JSON lines, the exported single-task model and remote code agree."""

from __future__ import annotations

import json
import logging
import textwrap

import pytest
import torch
from conftest import run_without_hf_mtl, tiny_bert_config

from hf_mtl import HfMtlError, MultiTaskConfig, MultiTaskModel, TaskSpec
from hf_mtl.modeling.inference import MultiTaskPipeline, PipelineInputError, predict
from hf_mtl.modeling.pipeline_inputs import SKIPPED_KEY
from hf_mtl.workflow.cli import main

TASKS = {
    "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]},
    "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]},
    "nli": {"type": "text-classification", "labels": ["entailment", "neutral", "contradiction"], "text_pair": True},
    "relatedness": {"type": "text-classification", "problem_type": "regression", "text_pair": True},
}
PAIR = {"text": "A man is playing a guitar.", "text_pair": "Nobody is making any music at all."}
SINGLE_TASKS = {"ner", "sentiment"}
PAIR_TASKS = {"nli", "relatedness"}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TASKS)).eval()


@pytest.fixture(scope="module")
def pipe(model, tokenizer):
    return MultiTaskPipeline(model=model, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def saved(model, tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def assert_same(got, expected):
    """Equal results, floats to 1e-5 (the batch a text is encoded in moves the last bits)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), (got, expected)
        for key in expected:
            assert_same(got[key], expected[key])
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), (got, expected)
        for one, other in zip(got, expected, strict=True):
            assert_same(one, other)
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, abs=1e-5)
    else:
        assert got == expected


def pair_logits(model, tokenizer, text, text_pair, task, **kwargs):
    batch = tokenizer(text, text_pair, return_tensors="pt", truncation=True, **kwargs)
    with torch.no_grad():
        return model(**batch, task=task).logits[0]


# ---------------------------------------------------------------------------------------------- config
def test_config_records_pair_tasks_and_round_trips(saved):
    written = json.loads((saved / "config.json").read_text())["tasks"]
    assert written["nli"]["text_pair"] is True and written["relatedness"]["text_pair"] is True
    assert "text_pair" not in written["sentiment"]  # stored only when true: earlier configs stay as they were
    reloaded = MultiTaskModel.from_pretrained(saved).config.tasks
    assert reloaded["nli"]["text_pair"] is True


def test_task_spec_with_a_second_column_records_text_pair():
    spec = TaskSpec(name="nli", type="text-classification", train="x.tsv", text_column="premise",
                    text_pair_column="hypothesis")
    assert spec.head_config(["entailment", "neutral"])["text_pair"] is True
    plain = TaskSpec(name="sentiment", type="text-classification", train="x.tsv")
    assert "text_pair" not in plain.head_config(["negative", "positive"])


@pytest.mark.parametrize("task, message", [
    ({"type": "token-classification", "labels": ["O", "B-X"], "text_pair": True}, "applies to text tasks"),
    ({"type": "text-classification", "labels": ["a", "b"], "text_pair": "yes"}, "must be true or false"),
])
def test_bad_text_pair_settings_are_refused(task, message):
    with pytest.raises(ValueError, match=message):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={"t": task})


# ---------------------------------------------------------------------------------------------- pipeline
def test_a_pair_is_encoded_as_in_training(pipe, model, tokenizer):
    result = pipe(PAIR)
    expected = pair_logits(model, tokenizer, PAIR["text"], PAIR["text_pair"], "nli").softmax(-1)
    labels = model.config.tasks["nli"]["id2label"]
    assert result["nli"]["label"] == labels[int(expected.argmax())]
    assert result["nli"]["score"] == pytest.approx(float(expected.max()), abs=1e-5)
    relatedness = pair_logits(model, tokenizer, PAIR["text"], PAIR["text_pair"], "relatedness")
    assert result["relatedness"]["value"] == pytest.approx(float(relatedness[0]), abs=1e-5)
    # the pair is not read as one text: the second segment's token types matter
    single = pipe(PAIR["text"] + " " + PAIR["text_pair"], tasks="relatedness", allow_single_text=True)
    assert single["relatedness"]["value"] != pytest.approx(result["relatedness"]["value"], abs=1e-6)


def test_a_list_of_pairs_and_texts_keeps_input_order(pipe):
    pairs = [PAIR, {"text": "Two dogs run.", "text_pair": "Animals are moving."}, "Ada Lovelace lived in London."]
    results = pipe(pairs, batch_size=2)
    assert_same(results, [pipe(item) for item in pairs])
    assert set(results[0]) == PAIR_TASKS | {SKIPPED_KEY} and set(results[2]) == SINGLE_TASKS | {SKIPPED_KEY}
    assert pipe({"text": "Only one text."}) == pipe("Only one text.")  # {"text"} alone is one text, as transformers


def test_mixed_tasks_skip_what_the_input_lacks_and_say_why(pipe):
    single = pipe("Ada Lovelace lived in London.")
    assert set(single) == SINGLE_TASKS | {SKIPPED_KEY}
    assert set(single[SKIPPED_KEY]) == PAIR_TASKS and "takes a text pair" in single[SKIPPED_KEY]["nli"]
    pair = pipe(PAIR)
    assert set(pair[SKIPPED_KEY]) == SINGLE_TASKS and "input is a text pair" in pair[SKIPPED_KEY]["ner"]
    assert SKIPPED_KEY not in pipe(PAIR, tasks=["nli", "relatedness"])  # every task asked fits
    assert SKIPPED_KEY not in pipe("Paris", tasks=["ner", "sentiment"])


def test_one_text_for_pair_tasks_is_an_error_unless_asked(pipe, model, tokenizer):
    with pytest.raises(PipelineInputError, match=r"Input 1 is one text, but task\(s\) \['nli'\] were trained on text "
                                                 r"pairs: pass \{'text': \.\.\., 'text_pair': \.\.\.\}, or allow_single_text=True"):
        pipe([PAIR, "just one"], tasks="nli")
    with pytest.raises(PipelineInputError, match=r"is a text pair, but task\(s\) \['ner', 'sentiment'\] take one text"):
        pipe(PAIR, tasks=["ner", "sentiment"])
    alone = pipe("just one", tasks="relatedness", allow_single_text=True)
    batch = tokenizer("just one", return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch, task="relatedness").logits[0, 0]
    assert alone["relatedness"]["value"] == pytest.approx(float(expected), abs=1e-5)
    assert set(pipe("just one", allow_single_text=True)) == SINGLE_TASKS | PAIR_TASKS  # nothing skipped


@pytest.mark.parametrize("item, message", [
    ({"text": "a", "pair": "b"}, r"Input 0 has key\(s\) \['pair'\]"),
    ({"text_pair": "b"}, "has no 'text'"),
    ({"text": ["a", "b"], "text_pair": "b"}, "'text' is a list"),
    ({"text": "a", "text_pair": None}, "'text_pair' is a NoneType"),
])
def test_bad_pair_inputs_are_one_line_errors(pipe, item, message):
    with pytest.raises(PipelineInputError, match=message) as caught:
        pipe(item)
    assert "\n" not in str(caught.value)


def test_a_long_pair_is_cut_longest_first_as_in_training(pipe, model, tokenizer, caplog):
    long = {"text": "word " * 200, "text_pair": "A short hypothesis."}
    with caplog.at_level(logging.WARNING):
        result = pipe(long, tasks="relatedness", max_length=64)
    assert "a text pair) is longer than 64 tokens and was truncated" in caplog.text
    expected = pair_logits(model, tokenizer, long["text"], long["text_pair"], "relatedness", max_length=64)
    assert result["relatedness"]["value"] == pytest.approx(float(expected[0]), abs=1e-5)
    with pytest.raises(HfMtlError, match="truncation=False"):
        pipe(long, tasks="relatedness", max_length=64, truncation=False)


def test_single_text_models_are_unchanged(tokenizer):
    from conftest import TINY_TASKS

    torch.manual_seed(0)
    plain = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TINY_TASKS)).eval()
    result = MultiTaskPipeline(model=plain, tokenizer=tokenizer)("Ada Lovelace lived in London.")
    assert set(result) == set(TINY_TASKS)  # no _skipped key


def test_predict_helper_takes_pairs(model, tokenizer, pipe):
    assert predict(model, tokenizer, [PAIR], tasks=["nli"]) == [pipe(PAIR, tasks=["nli"])]


# ---------------------------------------------------------------------------------------------- CLI
def read_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_cli_text_pair(saved, pipe, capsys):
    assert main(["predict", str(saved), "--text", PAIR["text"], "--text-pair", PAIR["text_pair"],
                 "--tasks", "nli,relatedness"]) == 0
    (line,) = read_json_lines(capsys.readouterr().out)
    assert_same(line, {**PAIR, **pipe(PAIR, tasks=["nli", "relatedness"])})
    assert main(["predict", str(saved), "--text", "a", "b", "--text-pair", "c"]) == 2
    assert "--text-pair gives 1 second text(s) for 2 --text" in capsys.readouterr().err
    assert main(["predict", str(saved), "--text", "one text", "--tasks", "nli"]) == 2
    assert "allow_single_text=True" in capsys.readouterr().err
    assert main(["predict", str(saved), "--text", "one text", "--tasks", "nli", "--allow-single-text"]) == 0
    assert "nli" in read_json_lines(capsys.readouterr().out)[0]


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_cli_reads_pairs_from_two_columns(saved, pipe, capsys, tmp_path, suffix):
    rows = [PAIR, {"text": "Ada Lovelace lived in London.", "text_pair": ""}]
    path = tmp_path / f"inputs{suffix}"
    if suffix == ".tsv":
        path.write_text("id\ttext\ttext_pair\n" + "".join(f"{i}\t{r['text']}\t{r['text_pair']}\n"
                                                          for i, r in enumerate(rows)), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps({"id": i, **r}) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
    assert main(["predict", str(saved), "--input", str(path)]) == 0
    lines = read_json_lines(capsys.readouterr().out)
    assert_same(lines[0], {**PAIR, **pipe(PAIR)})
    assert_same(lines[1], {"text": rows[1]["text"], **pipe(rows[1]["text"])})  # an empty second text: one text
    assert SKIPPED_KEY in lines[1] and set(lines[1][SKIPPED_KEY]) == PAIR_TASKS


def test_cli_table_errors_name_the_line(saved, capsys, tmp_path):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("premise\thypothesis\na\tb\n", encoding="utf-8")
    assert main(["predict", str(saved), "--input", str(tsv)]) == 2
    assert "bad.tsv, line 1: the header names columns ['premise', 'hypothesis'], none is 'text'" in capsys.readouterr().err
    assert main(["predict", str(saved), "--input", str(tsv), "--text-column", "premise",
                 "--text-pair-column", "hypothesis", "--tasks", "nli"]) == 0
    assert read_json_lines(capsys.readouterr().out)[0]["text_pair"] == "b"
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"text": "a"}\n["text"]\n', encoding="utf-8")
    assert main(["predict", str(saved), "--input", str(jsonl)]) == 2
    assert "bad.jsonl, line 2: expected a JSON object with a string 'text'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- export
def test_exported_pair_task_gives_equal_logits(model, tokenizer, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_mtl.export.task_model import export_task

    export_task(model, "nli", tmp_path / "nli", tokenizer)
    single = AutoModelForSequenceClassification.from_pretrained(tmp_path / "nli").eval()
    exported_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "nli")
    batch = exported_tokenizer(PAIR["text"], PAIR["text_pair"], return_tensors="pt", truncation=True)
    assert batch["token_type_ids"].max() == 1  # the second text is segment 1, as in training
    with torch.no_grad():
        got = single(**batch).logits[0]
    torch.testing.assert_close(got, pair_logits(model, tokenizer, PAIR["text"], PAIR["text_pair"], "nli"))


# ---------------------------------------------------------------------------------------------- remote code
def test_pairs_through_remote_code_without_hf_mtl(saved, pipe, tmp_path_factory):
    script = textwrap.dedent(
        f"""
        import json
        from transformers import AutoModel, AutoTokenizer, pipeline
        import torch
        model = AutoModel.from_pretrained({str(saved)!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__ and model.config.tasks["nli"]["text_pair"] is True
        tokenizer = AutoTokenizer.from_pretrained({str(saved)!r}, trust_remote_code=True)
        with torch.no_grad():
            logits = model(**tokenizer({PAIR["text"]!r}, {PAIR["text_pair"]!r}, return_tensors="pt"), task="nli").logits
        print("LOGITS", json.dumps(logits[0].tolist()))
        nlp = pipeline("multitask", model={str(saved)!r}, trust_remote_code=True, device="cpu")
        print("RESULTS", json.dumps(nlp([{PAIR!r}, "Ada Lovelace lived in London."])))
        try:
            nlp("one text", tasks="nli")
        except ValueError as error:
            print("ERROR", error)
        """
    )
    result = run_without_hf_mtl(script, tmp_path_factory.mktemp("modules"))
    assert result.returncode == 0, result.stderr[-3000:]
    logits = json.loads(result.stdout.split("LOGITS", 1)[1].split("\n", 1)[0])
    expected_logits = pair_logits(pipe.model, pipe.tokenizer, PAIR["text"], PAIR["text_pair"], "nli")
    torch.testing.assert_close(torch.tensor(logits), expected_logits, atol=1e-5, rtol=1e-4)
    got = json.loads(result.stdout.split("RESULTS", 1)[1].split("\n", 1)[0])
    expected = pipe([PAIR, "Ada Lovelace lived in London."])
    assert [set(r) for r in got] == [set(r) for r in expected]
    assert got[0]["nli"]["label"] == expected[0]["nli"]["label"]
    assert got[0]["relatedness"]["value"] == pytest.approx(expected[0]["relatedness"]["value"], abs=1e-5)
    assert got[1][SKIPPED_KEY] == expected[1][SKIPPED_KEY]
    assert "ERROR Input 0 is one text, but task(s) ['nli'] were trained on text pairs" in result.stdout


# ---------------------------------------------------------------------------------------------- end to end
def test_a_recipe_with_a_pair_task_trains_and_serves_pairs(tmp_path, tiny_encoder_dir, capsys):
    import yaml
    from conftest import SAMPLES_DIR, TINY_TRAINING

    rows = [("A man plays a guitar.", "A man plays music.", "entailment"),
            ("A dog runs.", "A cat sleeps.", "contradiction"),
            ("Kids play outside.", "Children are outdoors.", "entailment"),
            ("A woman cooks.", "Nobody is cooking.", "contradiction")] * 6
    data = tmp_path / "pairs.tsv"
    data.write_text("premise\thypothesis\tlabel\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    recipe = {
        "output_dir": str(tmp_path / "model"),
        "model": {"encoder": str(tiny_encoder_dir)},
        "tasks": [
            {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
             "max_train_examples": 32, "max_eval_examples": 8, "max_length": 48},
            {"name": "nli", "type": "text-classification", "train": str(data), "text_column": "premise",
             "text_pair_column": "hypothesis", "max_eval_examples": 8, "max_length": 48},
        ],
        "training": TINY_TRAINING,
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 0
    capsys.readouterr()
    config = json.loads((tmp_path / "model" / "config.json").read_text())["tasks"]
    assert config["nli"]["text_pair"] is True and config["ner"]["word_splitting"] == "tokenizer"
    assert main(["predict", str(tmp_path / "model"), "--text", "A man plays a guitar.", "--text-pair",
                 "A man plays music."]) == 0
    (line,) = read_json_lines(capsys.readouterr().out)
    assert line["nli"]["label"] in ("entailment", "contradiction") and set(line[SKIPPED_KEY]) == {"ner"}
