"""The task-kind registry: label schemes, entity spans, default metric vs pipeline output kind, loss weights."""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import hf_mtl
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.metrics import compute_task_metrics, main_metric_key, seqeval_scores
from hf_mtl.modeling import task_kinds
from hf_mtl.modeling.configuration_multitask import normalize_task_config
from hf_mtl.modeling.errors import HfMtlError, TaskError, did_you_mean
from hf_mtl.modeling.heads import (
    HEAD_CLASSES,
    SequenceClassificationHead,
    TokenClassificationHead,
    head_class,
)
from hf_mtl.modeling.task_kinds import (
    IGNORE_INDEX,
    LabelScheme,
    check_loss_weight,
    default_metric,
    detect_label_scheme,
    entity_spans,
    output_kind,
    task_kind,
)

# Every label style, as a label set and one gold sentence "Ada Lovelace | met | Bob | in Paris London" with
# PER(0-2) PER(3) LOC(5) LOC(6); None: not an entity scheme.
STYLES = {
    "IOB1": (["O", "I-PER", "I-LOC", "B-LOC"], ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC", "B-LOC"]),
    "IOB2": (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "B-LOC"]),
    "IOBES": (["O", "B-PER", "E-PER", "S-PER", "S-LOC"], ["B-PER", "E-PER", "O", "S-PER", "O", "S-LOC", "S-LOC"]),
    "BILOU": (["O", "B-PER", "L-PER", "U-PER", "U-LOC"], ["B-PER", "L-PER", "O", "U-PER", "O", "U-LOC", "U-LOC"]),
    "B_ separator": (["O", "B_PER", "I_PER", "B_LOC"], ["B_PER", "I_PER", "O", "B_PER", "O", "B_LOC", "B_LOC"]),
    "suffix PER-B": (["O", "PER-B", "PER-I", "LOC-B"], ["PER-B", "PER-I", "O", "PER-B", "O", "LOC-B", "LOC-B"]),
    "POS": (["NOUN", "PROPN", "VERB", "ADP"], ["PROPN", "PROPN", "VERB", "PROPN", "ADP", "PROPN", "PROPN"]),
}
EXPECTED_SCHEME = {
    "IOB1": LabelScheme("IOB2"),  # a label set cannot tell IOB1 (B- only between two entities) from IOB2: read alike
    "IOB2": LabelScheme("IOB2"),
    "IOBES": LabelScheme("IOBES"),
    "BILOU": LabelScheme("BILOU"),
    "B_ separator": LabelScheme("IOB2", separator="_"),
    "suffix PER-B": LabelScheme("IOB2", prefix_first=False),
    "POS": None,
}
GOLD_SPANS = [("PER", 0, 2), ("PER", 3, 4), ("LOC", 5, 6), ("LOC", 6, 7)]


@pytest.mark.parametrize("style", list(STYLES))
def test_label_scheme_detected_for_every_style(style):
    labels, sentence = STYLES[style]
    scheme = detect_label_scheme(labels)
    assert scheme == EXPECTED_SCHEME[style]
    if scheme is not None:
        assert entity_spans(sentence, scheme) == GOLD_SPANS
        assert [scheme.parse(tag)[1] for tag in sentence if tag != "O"] == ["PER", "PER", "PER", "LOC", "LOC"]


def test_scheme_names():
    assert detect_label_scheme(["O", "I-PER", "I-LOC"]).name == "IOB1"
    assert detect_label_scheme(["O", "S-PER"]).name == "IOBES"
    assert detect_label_scheme(["O", "U-PER"]).name == "BILOU"
    scheme = detect_label_scheme(["O", "LOC_U", "LOC_B", "LOC_L"])
    assert scheme == LabelScheme("BILOU", separator="_", prefix_first=False) and scheme.description == "BILOU (PER_B)"
    assert [scheme.canonical(tag) for tag in ("LOC_U", "LOC_B", "LOC_L", "O")] == ["S-LOC", "B-LOC", "E-LOC", "O"]
    with pytest.raises(ValueError, match="does not follow the BILOU"):
        scheme.parse("LOC_E")


@pytest.mark.parametrize(
    "labels",
    [["O"], [], ["NOUN", "VERB", "O"], ["O", "B-PER", "I_PER"], ["O", "B-PER", "E-PER", "L-PER"], ["O", "B-"],
     ["O", "B-PER", "PER-I"], ["O", "X-PER"]],
)
def test_not_an_entity_scheme(labels):
    assert detect_label_scheme(labels) is None


@pytest.mark.parametrize("style", list(STYLES))
def test_metric_and_pipeline_output_agree_for_every_style(style):
    """The registry's metric choice and the pipeline's output kind follow the same label test."""
    labels, _ = STYLES[style]
    task = {"type": "token-classification", "id2label": dict(enumerate(labels))}
    is_entities = EXPECTED_SCHEME[style] is not None
    assert default_metric(task) == ("seqeval" if is_entities else "token_accuracy")
    assert output_kind(task) == ("entities" if is_entities else "word_tags")
    spec = TaskSpec(name="t", type="token-classification", train="a.txt")
    assert spec.resolved_metric(labels) == default_metric(task)


@pytest.mark.parametrize("style", list(STYLES))
def test_every_style_scored_as_the_registry_says(style):
    """Gold vs a prediction that misses the 2nd PER and merges the two LOCs: entity metric or token accuracy."""
    labels, gold = list(STYLES[style][0]), STYLES[style][1]
    scheme = detect_label_scheme(labels)
    pred = list(gold)
    if scheme is not None:
        pred[3] = "O"
        # LOC(5-7) as one entity: the scheme's start letter then its inside/last letter
        start = "I" if style == "IOB1" else "B"
        inside = {"IOB2": "I", "IOBES": "E", "BILOU": "L"}[scheme.name]
        pred[5], pred[6] = _tag(scheme, start, "LOC"), _tag(scheme, inside, "LOC")
        labels += sorted({tag for tag in pred if tag not in labels})
        assert detect_label_scheme(labels) == scheme
    else:
        pred[3] = "NOUN"
    task = {"type": "token-classification", "id2label": dict(enumerate(labels))}
    label2id = {label: i for i, label in enumerate(labels)}
    ids = np.array([[IGNORE_INDEX] + [label2id[t] for t in gold] + [IGNORE_INDEX]])
    pred_ids = np.array([[0] + [label2id[t] for t in pred] + [0]])
    metric = default_metric(task)
    scores = compute_task_metrics(metric, pred_ids, ids, task["id2label"])
    accuracy = pytest.approx(np.mean([g == p for g, p in zip(gold, pred, strict=True)]))
    if scheme is None:
        assert metric == "token_accuracy" and scores == {"accuracy": accuracy}
        return
    assert metric == "seqeval"
    # gold: PER PER LOC LOC; predicted: PER (right), LOC(5-7) (wrong boundaries)
    assert entity_spans(pred, scheme) == [("PER", 0, 2), ("LOC", 5, 7)]
    assert scores["precision"] == 0.5 and scores["recall"] == 0.25
    assert scores["per_recall"] == 0.5 and scores["loc_recall"] == 0.0 and scores["per_precision"] == 1.0
    assert scores[main_metric_key(metric)] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert scores["accuracy"] == accuracy


def _tag(scheme: LabelScheme, prefix: str, entity_type: str) -> str:
    if scheme.prefix_first:
        return f"{prefix}{scheme.separator}{entity_type}"
    return f"{entity_type}{scheme.separator}{prefix}"


def _random_tags(rng: random.Random, scheme: LabelScheme, length: int) -> list[str]:
    tags = []
    for _ in range(length):
        prefix = rng.choice(sorted(scheme.prefixes) + ["O", "O"])
        tags.append("O" if prefix == "O" else _tag(scheme, prefix, rng.choice(["PER", "LOC", "B-X"])))
    return tags


@pytest.mark.parametrize(
    "scheme",
    [LabelScheme("IOB2"), LabelScheme("IOBES"), LabelScheme("BILOU"), LabelScheme("IOB2", separator="_"),
     LabelScheme("IOBES", prefix_first=False)],
    ids=lambda scheme: scheme.description,
)
def test_entity_spans_are_the_spans_seqeval_scores(scheme):
    """Well-formed or not, every tag sequence gives the pipeline the same entities that the metrics count."""
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    for _ in range(300):
        tags = _random_tags(rng, scheme, rng.randint(0, 8))
        expected = [(kind, start, end + 1) for kind, start, end in get_entities([scheme.canonical(t) for t in tags])]
        assert entity_spans(tags, scheme) == expected, tags
        scores = seqeval_scores([tags], [tags])
        assert scores["f1"] == (1.0 if expected else 0.0), tags


def test_seqeval_reads_what_it_used_to_misread():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # suffix tags: seqeval's default parser took "PER-B" as prefix "P", type "B"
        suffix = seqeval_scores([["PER-B", "PER-I", "O", "LOC-B"]], [["PER-B", "PER-I", "O", "O"]])
        assert set(suffix) >= {"per_f1", "loc_f1"} and not {"b_f1", "i_f1"} & set(suffix)
        assert suffix["recall"] == 0.5 and suffix["precision"] == 1.0
        # BILOU: two adjacent U- entities of one type are two entities (seqeval's default reading merged them)
        bilou = seqeval_scores([["U-LOC", "U-LOC"]], [["B-LOC", "L-LOC"]])
        assert bilou["precision"] == 0.0 and bilou["recall"] == 0.0
        assert seqeval_scores([["U-LOC", "U-LOC"]], [["U-LOC", "U-LOC"]])["f1"] == 1.0
        # B_ separator: type "PER", not "_PER", and read as entities
        assert seqeval_scores([["B_PER", "I_PER"]], [["B_PER", "I_PER"]])["per_f1"] == 1.0


def test_seqeval_strict_mode_for_every_scheme_and_style():
    # strict BILOU: an L- without its B- is no entity
    assert seqeval_scores([["B-PER", "L-PER"]], [["O", "L-PER"]], scheme="BILOU")["precision"] == 0.0
    assert seqeval_scores([["B-PER", "L-PER"]], [["B-PER", "L-PER"]], scheme="bilou")["f1"] == 1.0
    # strict mode reads suffix and `_` tags too
    assert seqeval_scores([["PER-B", "PER-I"]], [["PER-I", "PER-I"]], scheme="IOB2")["precision"] == 0.0
    assert seqeval_scores([["B_PER", "I_PER"]], [["B_PER", "I_PER"]], scheme="IOB2")["f1"] == 1.0
    with pytest.raises(HfMtlError, match=r"did you mean 'IOBES'"):
        seqeval_scores([["O"]], [["O"]], scheme="IOBSE")


def test_registry_kinds():
    assert task_kinds.TASK_TYPES == ("token-classification", "text-classification", "dependency-parsing", "lemmatization",
                                     "masked-lm")
    assert task_kinds.PROBLEM_TYPES == ("single_label_classification", "multi_label_classification", "regression")
    assert head_class("token-classification") is TokenClassificationHead
    assert head_class("text-classification") is SequenceClassificationHead
    with pytest.raises(ValueError, match=r"type 'span' does not exist; expected one of \['token-classification'"):
        task_kind("span")
    text = {"type": "text-classification", "id2label": {0: "a", 1: "b"}}
    assert [(default_metric({**text, "problem_type": p}), output_kind({**text, "problem_type": p}))
            for p in task_kinds.PROBLEM_TYPES] == [
        ("accuracy", "single_label"), ("multilabel", "multi_label"), ("regression", "regression")]
    # labels not known yet: a token task defaults to the entity metric (as TaskSpec always did)
    assert default_metric({"type": "token-classification"}) == "seqeval"
    assert {metric: main_metric_key(metric) for metric in ("seqeval", "multilabel")} == {
        "seqeval": "f1", "multilabel": "f1_micro"}
    assert set(task_kinds.OUTPUT_KINDS) == {output for kind in task_kinds.TASK_KINDS.values()
                                            for output in (*kind.outputs.values(), kind.entity_output) if output}


def test_every_kind_has_a_head_and_every_head_a_kind():
    from hf_mtl.modeling import heads

    assert set(HEAD_CLASSES) == set(task_kinds.TASK_KINDS)
    assert len(set(HEAD_CLASSES.values())) == len(HEAD_CLASSES)  # one kind per head class
    head_classes = {obj for obj in vars(heads).values()
                    if isinstance(obj, type) and issubclass(obj, heads.nn.Module) and obj.__module__ == heads.__name__}
    assert head_classes == set(HEAD_CLASSES.values())  # no head class left unregistered
    assert not any(hasattr(cls, "task_type") for cls in head_classes)  # the kind is the registry's, not the head's
    with pytest.raises(ValueError, match="type 'span' does not exist"):
        heads.register_head("span")
    with pytest.raises(ValueError, match="already has a head"):
        heads.register_head("text-classification")(type("Other", (heads.nn.Module,), {}))


def test_kind_decisions_live_in_the_registry():
    """Per kind and problem type: label values, loss counting, loss-scaling classes, fixed labels, export class."""
    import torch

    token, text = task_kind("token-classification"), task_kind("text-classification")
    assert (token.per_token, token.pooled, token.export_class) == (True, False, "AutoModelForTokenClassification")
    assert (text.per_token, text.pooled, text.export_class) == (False, True, "AutoModelForSequenceClassification")
    single, multi, regression = (text.problem(p) for p in task_kinds.PROBLEM_TYPES)
    ids = torch.tensor([[1, -100], [0, 2]])
    assert int(token.problem().count_items(ids)) == 3 and int(single.count_items(ids)) == 3
    assert multi.count_items(torch.ones(4, 3)) == 12 and regression.count_items(torch.ones(4)) == 4
    assert [p.num_loss_classes(5) for p in (token.problem(), single, multi, regression)] == [5, 5, 2, 0]
    assert (regression.fixed_labels, single.fixed_labels, multi.multi_hot) == (("value",), None, True)
    assert (single.class_ids, multi.class_ids, regression.class_ids) == (True, False, False)
    assert task_kinds.sequence_problem("regression") is regression
    assert task_kinds.task_problem({"type": "token-classification"}) is token.problem()


def test_kind_literals_live_in_the_registry_and_the_heads():
    """Issue #19: no module but the registry and the heads decides on a task-type / problem-type literal."""
    import ast

    package = Path(hf_mtl.__file__).parent
    literal = re.compile(r'"token-classification"|"text-classification"|TOKEN_CLASSIFICATION|TEXT_CLASSIFICATION|'
                         r'"regression"|"multi_label_classification"|"single_label_classification"')
    found = set()
    for path in package.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        docstrings = set()  # lines of docstrings (their examples and prose may name the kinds)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                docstrings.update(range(node.lineno, node.end_lineno + 1))
        for number, line in enumerate(source.splitlines(), start=1):
            if number not in docstrings and literal.search(line.split("#")[0]):
                found.add(f"{path.relative_to(package)}:{number}")
    assert {where.split(":")[0] for where in found} <= {"modeling/task_kinds.py", "modeling/heads.py"}, sorted(found)


def test_ignore_index_is_defined_once():
    package = Path(hf_mtl.__file__).parent
    definitions = [str(path.relative_to(package)) for path in package.rglob("*.py")
                   if re.search(r"^IGNORE_INDEX\s*=", path.read_text(encoding="utf-8"), flags=re.MULTILINE)]
    assert definitions == ["modeling/task_kinds.py"]
    from hf_mtl import metrics
    from hf_mtl.data import IGNORE_INDEX as data_ignore_index
    from hf_mtl.modeling import heads

    assert heads.IGNORE_INDEX == metrics.IGNORE_INDEX == data_ignore_index == IGNORE_INDEX == -100


def test_modeling_core_imports_only_torch_transformers_and_itself():
    package = Path(hf_mtl.__file__).parent
    for name in ("task_kinds.py", "label_schemes.py"):
        source = (package / "modeling" / name).read_text(encoding="utf-8")
        imported = set(re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.MULTILINE))
        assert imported <= {"__future__", "math", "collections.abc", "dataclasses", "typing", ".label_schemes"}, imported


@pytest.mark.parametrize("weight", [0, 0.0, 2, 1.5])
def test_loss_weight_one_rule_accepts(weight, tmp_path):
    from hf_mtl.training.training_args import MultiTaskTrainingArguments

    assert check_loss_weight(weight, "x") == float(weight)
    assert TaskSpec(name="t", type="token-classification", train="a.txt", loss_weight=weight).loss_weight == weight
    task = {"type": "token-classification", "labels": ["O", "B-X"], "loss_weight": weight}
    assert normalize_task_config("t", task)["loss_weight"] == weight
    args = MultiTaskTrainingArguments(output_dir=str(tmp_path), task_loss_weights={"t": weight}, report_to=[])
    assert args.task_loss_weights == {"t": weight}


@pytest.mark.parametrize("weight", [-1, float("nan"), float("inf"), True, "1"])
def test_loss_weight_one_rule_rejects(weight, tmp_path):
    from hf_mtl.training.training_args import MultiTaskTrainingArguments

    message = r"`loss_weight` must be a finite number >= 0"
    with pytest.raises(TaskError, match=message):
        TaskSpec(name="t", type="token-classification", train="a.txt", loss_weight=weight)
    with pytest.raises(ValueError, match=message):
        normalize_task_config("t", {"type": "token-classification", "labels": ["O", "B-X"], "loss_weight": weight})
    with pytest.raises(TaskError, match=r"task_loss_weights\['t'\]: " + message):
        MultiTaskTrainingArguments(output_dir=str(tmp_path), task_loss_weights={"t": weight}, report_to=[])


def test_did_you_mean(tmp_path):
    from hf_mtl.data import read_split
    from hf_mtl.modeling.errors import DataError

    assert did_you_mean("cvs", ["csv", "tsv"]) == " (did you mean 'csv'?)"
    assert did_you_mean(3, ["csv"]) == ""
    # the readers' missing-column error uses the same helper
    (tmp_path / "train.jsonl").write_text('{"sentence": "good", "label": "pos"}\n', encoding="utf-8")
    spec = TaskSpec(name="t", type="text-classification", train=str(tmp_path / "train.jsonl"), text_column="sentense")
    with pytest.raises(DataError, match=r"no column 'sentense' \(did you mean 'sentence'\?\)"):
        read_split(spec.train, spec, "train")


def test_pipeline_output_follows_the_registry_for_every_style():
    """A model with one token task per label style: the pipeline outputs entities exactly where the metric is
    seqeval, and its entities are the spans the metric reads from the same word tags."""
    import torch
    from conftest import minilm_dir, tiny_bert_config
    from transformers import AutoTokenizer

    from hf_mtl import MultiTaskConfig, MultiTaskModel
    from hf_mtl.modeling.inference import MultiTaskPipeline

    names = {style: re.sub(r"[^a-z0-9]+", "_", style.lower()).strip("_") for style in STYLES}
    tasks = {names[style]: {"type": "token-classification", "labels": labels} for style, (labels, _) in STYLES.items()}
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()
    with torch.no_grad():
        for head in model.heads.values():
            head.classifier.weight.mul_(200.0)  # varied tags from a random tiny model
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    pipe = MultiTaskPipeline(model=model, tokenizer=tokenizer)
    words = "Ada Lovelace met Charles Babbage in London and Paris on a cold day in June".split()
    result = pipe(words, is_split_into_words=True)
    batch = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    firsts = [i for i, w in enumerate(batch.word_ids()) if w is not None and w != batch.word_ids()[i - 1]]
    seen_entities = 0
    for style, (labels, _) in STYLES.items():
        name, task = names[style], model.config.tasks[names[style]]
        with torch.no_grad():
            ids = model(**batch, task=name).logits[0, firsts].argmax(-1).tolist()
        tags = [labels[i] for i in ids]
        assert pipe.output_kinds[name] == output_kind(task)
        if default_metric(task) == "seqeval":
            assert output_kind(task) == "entities"
            expected = [(kind, " ".join(words[start:end])) for kind, start, end in
                        entity_spans(tags, detect_label_scheme(labels))]
            assert [(entity["entity_group"], entity["word"]) for entity in result[name]] == expected, (style, tags)
            seen_entities += len(expected)
        else:
            assert output_kind(task) == "word_tags"
            assert [word["tag"] for word in result[name]] == tags
    assert seen_entities > 6  # the check saw real entities
