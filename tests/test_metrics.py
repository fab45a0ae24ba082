"""Metrics on hand-made cases whose answers were computed by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hf_mtl.metrics import (
    METRIC_NAMES,
    classification_scores,
    compute_task_metrics,
    main_metric_key,
    multilabel_scores,
    regression_scores,
    seqeval_scores,
    token_accuracy,
)
from hf_mtl.modeling.errors import HfMtlError, TaskError

# ----------------------------------------------------------------------------------------------------------------
# seqeval
# ----------------------------------------------------------------------------------------------------------------


def test_seqeval_one_of_two_entities_found():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "O"]]
    scores = seqeval_scores(gold, pred)
    assert scores["precision"] == 1.0
    assert scores["recall"] == 0.5
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(3 / 4)
    assert (scores["per_precision"], scores["per_recall"], scores["per_f1"]) == (1.0, 1.0, 1.0)
    assert (scores["loc_precision"], scores["loc_recall"], scores["loc_f1"]) == (0.0, 0.0, 0.0)
    assert all(isinstance(v, float) for v in scores.values())


def test_seqeval_per_type_and_boundary_errors():
    # gold: PER(0-1), ORG(3), PER(5); pred: PER(0) [wrong boundary], ORG(3), LOC(5) [wrong type]
    gold = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-PER"]]
    pred = [["B-PER", "O", "O", "B-ORG", "O"], ["B-LOC"]]
    scores = seqeval_scores(gold, pred)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)
    assert scores["org_f1"] == 1.0
    assert scores["per_precision"] == 0.0 and scores["per_recall"] == 0.0
    assert scores["loc_precision"] == 0.0 and scores["loc_recall"] == 0.0  # no gold LOC: 0, not an error
    assert scores["accuracy"] == pytest.approx(4 / 6)


def test_seqeval_matches_seqeval_library():
    from seqeval.metrics import f1_score, precision_score, recall_score

    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-MISC"], ["O", "B-ORG", "I-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O", "O", "B-MISC"], ["I-ORG", "I-ORG", "I-ORG", "O"]]
    scores = seqeval_scores(gold, pred)
    assert scores["precision"] == pytest.approx(precision_score(gold, pred))
    assert scores["recall"] == pytest.approx(recall_score(gold, pred))
    assert scores["f1"] == pytest.approx(f1_score(gold, pred))


def test_seqeval_iobes_strict_and_lenient():
    gold = [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]]
    pred = [["S-PER", "O", "B-LOC", "E-LOC", "O"]]
    for scheme in (None, "IOBES"):
        scores = seqeval_scores(gold, pred, scheme=scheme)
        assert scores["precision"] == 0.5 and scores["recall"] == 0.5, scheme
        assert scores["per_f1"] == 1.0 and scores["loc_f1"] == 0.0
    # lowercase scheme names are accepted
    assert seqeval_scores(gold, gold, scheme="iobes")["f1"] == 1.0


def test_seqeval_strict_iob2_differs_from_lenient():
    # "I-PER" after "O" is an entity in lenient (conlleval) mode, not in strict IOB2
    gold = [["B-PER", "I-PER", "O"]]
    pred = [["O", "I-PER", "O"]]
    lenient = seqeval_scores(gold, pred)
    strict = seqeval_scores(gold, pred, scheme="IOB2")
    assert lenient["precision"] == 0.0 and lenient["recall"] == 0.0  # found I-PER(1) has the wrong boundary
    strict_pred = seqeval_scores([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], scheme="IOB2")
    assert strict_pred["precision"] == 0.0  # no well-formed entity predicted
    assert seqeval_scores([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])["f1"] == 1.0  # lenient: match
    assert strict["f1"] == 0.0


def test_seqeval_iob1():
    # IOB1: B- only separates two adjacent entities of the same type
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    scores = seqeval_scores(gold, gold, scheme="IOB1")
    assert scores["f1"] == 1.0
    assert {k for k in scores if k.endswith("_f1")} == {"per_f1", "loc_f1"}
    # without the B- the two PER entities merge into one: gold has 3 entities, pred 2 (LOC correct)
    merged = seqeval_scores(gold, [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]], scheme="IOB1")
    assert merged["precision"] == 0.5 and merged["recall"] == pytest.approx(1 / 3)


def test_seqeval_empty_entities_no_crash_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        none = seqeval_scores([["O", "O"]], [["O", "O"]])
        assert none == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 1.0}
        no_pred = seqeval_scores([["B-PER", "O"]], [["O", "O"]])
        assert no_pred["precision"] == 0.0 and no_pred["recall"] == 0.0 and no_pred["f1"] == 0.0
        no_gold = seqeval_scores([["O", "O"]], [["B-PER", "O"]])
        assert no_gold["precision"] == 0.0 and no_gold["recall"] == 0.0
        empty = seqeval_scores([], [])
        assert empty["f1"] == 0.0 and empty["accuracy"] == 0.0
        seqeval_scores([["PER", "O"]], [["PER", "O"]])  # odd tags in lenient mode: no warning spam


def test_seqeval_errors():
    with pytest.raises(HfMtlError, match="scheme"):
        seqeval_scores([["O"]], [["O"]], scheme="BIO3")
    with pytest.raises(HfMtlError, match="sequence 0"):
        seqeval_scores([["O", "O"]], [["O"]])
    with pytest.raises(HfMtlError, match="IOB2"):
        seqeval_scores([["S-PER"]], [["S-PER"]], scheme="IOB2")


def test_token_accuracy():
    assert token_accuracy([["DET", "NOUN"], ["VERB"]], [["DET", "VERB"], ["VERB"]]) == {
        "accuracy": pytest.approx(2 / 3)
    }
    assert token_accuracy([], []) == {"accuracy": 0.0}


# ----------------------------------------------------------------------------------------------------------------
# sequence-level
# ----------------------------------------------------------------------------------------------------------------


def test_classification_macro_f1_with_missing_class():
    # class 0: P=1 R=1 F1=1; class 1: P=1/2 R=1 F1=2/3; class 2: never predicted, F1=0
    scores = classification_scores([0, 0, 1, 2], [0, 0, 1, 1])
    assert scores["accuracy"] == 0.75
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert scores["precision"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["recall"] == pytest.approx((1 + 1 + 0) / 3)


def test_classification_matches_sklearn_if_available():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
    scores = classification_scores(y_true, y_pred)
    expected = sklearn_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert scores["f1"] == pytest.approx(expected)


def test_classification_errors_and_empty():
    with pytest.raises(HfMtlError, match="outside"):
        classification_scores([0, 3], [0, 1], num_labels=3)
    with pytest.raises(HfMtlError, match="items"):
        classification_scores([0, 1], [0])
    assert classification_scores([], [])["f1"] == 0.0


def test_multilabel_scores():
    y_true = np.array([[1, 0, 1], [0, 1, 0]])
    y_pred = np.array([[1, 0, 0], [0, 1, 0]])
    scores = multilabel_scores(y_true, y_pred)
    # tp=2 fp=0 fn=1 -> micro F1 = 4/5; per label F1: 1, 1, 0
    assert scores["f1_micro"] == pytest.approx(0.8)
    assert scores["f1_macro"] == pytest.approx(2 / 3)
    assert scores["exact_match"] == 0.5
    with pytest.raises(HfMtlError, match="shape"):
        multilabel_scores(y_true, y_pred[:, :2])


def test_regression_scores():
    scores = regression_scores([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    # pearson = 5 / sqrt(2 * 114/9)
    assert scores["pearson"] == pytest.approx(5 / np.sqrt(2 * 114 / 9))
    assert scores["spearman"] == 1.0
    assert scores["mse"] == pytest.approx(7.0)
    anti = regression_scores([1, 2, 3, 4], [4, 3, 2, 1])
    assert anti["pearson"] == pytest.approx(-1.0) and anti["spearman"] == pytest.approx(-1.0)


def test_regression_constant_input_is_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = regression_scores([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
        assert scores["pearson"] == 0.0 and scores["spearman"] == 0.0
        assert scores["mse"] == pytest.approx(2 / 3)
        assert regression_scores([1.0], [1.0])["pearson"] == 0.0
        assert regression_scores([], []) == {"pearson": 0.0, "spearman": 0.0, "mse": 0.0}


# ----------------------------------------------------------------------------------------------------------------
# registry and compute_task_metrics
# ----------------------------------------------------------------------------------------------------------------


def test_registry():
    assert METRIC_NAMES == ("seqeval", "token_accuracy", "accuracy", "f1", "multilabel", "regression", "attachment",
                            "perplexity")
    expected = {
        "seqeval": "f1",
        "token_accuracy": "accuracy",
        "accuracy": "accuracy",
        "f1": "f1",
        "multilabel": "f1_micro",
        "regression": "pearson",
        "attachment": "las",
        "perplexity": "perplexity",
    }
    assert {name: main_metric_key(name) for name in METRIC_NAMES} == expected
    with pytest.raises(TaskError, match="seqeval") as info:
        main_metric_key("seqevl")
    assert "did you mean 'seqeval'" in str(info.value)
    with pytest.raises(TaskError, match="valid metrics"):
        compute_task_metrics("bleu", np.zeros(2), np.zeros(2), {})


ID2LABEL = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


def test_compute_seqeval_filters_ignored_positions():
    # two rows padded to T=6; -100 marks special tokens, non-first sub-words and padding
    labels = np.array([[-100, 1, 2, -100, 0, 3], [-100, 3, 4, 0, -100, -100]])
    preds = np.array([[3, 1, 2, 4, 0, 0], [1, 3, 4, 0, -100, -100]])
    scores = compute_task_metrics("seqeval", preds, labels, ID2LABEL)
    # gold: PER, LOC | LOC ; pred: PER, - | LOC -> P = 1, R = 2/3
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(0.8)
    assert scores["accuracy"] == pytest.approx(6 / 7)
    assert scores[main_metric_key("seqeval")] == scores["f1"]
    assert all(type(v) is float for v in scores.values())


def test_compute_token_tasks_accept_logits_string_keys_and_uneven_width():
    labels = np.array([[-100, 1, 2, 0]])
    logits = np.zeros((1, 4, 5))
    logits[0, np.arange(4), [0, 1, 2, 1]] = 5.0
    scores = compute_task_metrics("token_accuracy", logits, labels, {str(k): v for k, v in ID2LABEL.items()})
    assert scores == {"accuracy": pytest.approx(2 / 3)}
    # predictions narrower than labels: padded; only positions with labels matter
    scores = compute_task_metrics(
        "token_accuracy", np.array([[0, 1, 2]]), np.array([[-100, 1, 2, -100]]), ID2LABEL
    )
    assert scores["accuracy"] == 1.0


def test_compute_token_unknown_id_raises():
    with pytest.raises(HfMtlError, match="id2label"):
        compute_task_metrics("seqeval", np.array([[7]]), np.array([[0]]), ID2LABEL)
    with pytest.raises(HfMtlError, match="id2label"):
        compute_task_metrics("seqeval", np.array([[0]]), np.array([[0]]), None)


def test_compute_classification_logits_and_ids():
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    labels = np.array([0, 1, 2, 2])
    id2label = {0: "a", 1: "b", 2: "c"}
    from_logits = compute_task_metrics("f1", logits, labels, id2label)
    from_ids = compute_task_metrics("accuracy", np.array([0, 1, 1, 2]), labels, id2label)
    assert from_logits == from_ids
    assert from_logits["accuracy"] == 0.75
    # class 0: 1; class 1: P=1/2 R=1 -> 2/3; class 2: P=1 R=1/2 -> 2/3
    assert from_logits["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_compute_multilabel_threshold_at_zero_logit():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.2, -0.1]])
    labels = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    scores = compute_task_metrics("multilabel", logits, labels, {0: "x", 1: "y", 2: "z"})
    assert scores["exact_match"] == 0.5
    assert scores["f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))


def test_compute_regression_shapes():
    preds = np.array([[2.0], [4.0], [7.0]])
    scores = compute_task_metrics("regression", preds, np.array([1.0, 2.0, 3.0]), {})
    assert scores["mse"] == pytest.approx(7.0) and scores["spearman"] == 1.0
