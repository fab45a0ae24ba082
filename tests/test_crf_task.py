"""`decoder: crf` on a token task: config and spec checks, the loss, training, decoding, save/reload, remote code,
the pipeline."""

from __future__ import annotations

import textwrap

import pytest
import torch
from conftest import run_without_hf_mtl, tiny_bert_config
from test_trainer import make_args, synthetic_ner

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.crf import LinearChainCRF, allowed_transitions, gather_scored
from hf_mtl.modeling.errors import TaskError
from hf_mtl.modeling.label_schemes import detect_label_scheme, entity_spans
from hf_mtl.training.trainer import MultiTaskTrainer

NER = ["O", "B-PER", "I-PER"]


def crf_model(seed: int = 0) -> MultiTaskModel:
    torch.manual_seed(seed)
    tasks = {"ner": {"type": "token-classification", "labels": NER, "decoder": "crf"},
             "pos": {"type": "token-classification", "labels": ["NOUN", "VERB", "DET"]}}
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))


def test_the_decoder_is_checked_where_tasks_are_described(tmp_path):
    config = MultiTaskConfig(encoder=tiny_bert_config(), tasks={
        "ner": {"type": "token-classification", "labels": NER, "decoder": "crf"},
        "pos": {"type": "token-classification", "labels": ["A", "B"], "decoder": "softmax"}})
    assert config.tasks["ner"]["decoder"] == "crf" and "decoder" not in config.tasks["pos"]  # the default is not stored
    with pytest.raises(ValueError, match=r"Task 'topic': `decoder` is for tasks labelled per token"):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={
            "topic": {"type": "text-classification", "labels": ["a", "b"], "decoder": "crf"}})
    with pytest.raises(TaskError, match=r"task 'topic': `decoder` is for tasks labelled per token"):
        TaskSpec(name="topic", type="text-classification", train="a.tsv", decoder="crf")
    with pytest.raises(TaskError, match=r"decoder 'crff' does not exist for token-classification tasks"):
        TaskSpec(name="ner", type="token-classification", train="a.txt", decoder="crff")
    with pytest.raises(TaskError, match="label_all_subwords"):
        TaskSpec(name="ner", type="token-classification", train="a.txt", decoder="crf", label_all_subwords=True)
    spec = TaskSpec(name="ner", type="token-classification", train="a.txt", decoder="crf")
    assert spec.head_config(NER)["decoder"] == "crf"


def test_the_loss_is_the_crf_negative_log_likelihood_over_first_subwords():
    model = crf_model().eval()
    input_ids = torch.randint(1000, 2000, (2, 7))
    labels = torch.tensor([[-100, 1, -100, 2, 0, 0, -100], [-100, 0, 1, 2, -100, -100, -100]])
    output = model(input_ids=input_ids, labels=labels, task="ner")
    head = model.heads["ner"]
    emissions, mask = gather_scored(output.logits, labels != -100)
    tags, _ = gather_scored(labels, labels != -100)
    reference = LinearChainCRF(3)
    reference.load_state_dict(head.crf.state_dict())
    expected = -reference.log_likelihood(emissions, tags, mask).sum() / (labels != -100).sum()
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()
    assert head.crf.transitions.grad is not None and head.crf.transitions.grad.abs().sum() > 0


def test_decoding_never_breaks_the_scheme_and_matches_the_pipeline_reading():
    model = crf_model().eval()
    with torch.no_grad():  # make "O I-PER" the most attractive transition: decoding must still refuse it
        model.heads["ner"].crf.transitions[0, 2] = 50.0
    input_ids = torch.randint(1000, 2000, (4, 9))
    scored = torch.rand(4, 9) > 0.3
    scored[:, 0] = False
    ids = model.heads["ner"].decode(model(input_ids=input_ids, task="ner").logits, scored)
    start, transitions, _ = allowed_transitions(NER)
    for row, keep in zip(ids.tolist(), scored.tolist(), strict=True):
        path = [tag for tag, kept in zip(row, keep, strict=True) if kept]
        assert not path or bool(start[path[0]])
        assert all(bool(transitions[a, b]) for a, b in zip(path, path[1:], strict=False))


def test_crf_task_trains_evaluates_and_reloads_exactly(tmp_path, tokenizer):  # noqa: F811
    tasks = {"ner": {"type": "token-classification", "labels": NER, "decoder": "crf"}}
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks))
    trainer = MultiTaskTrainer(model=model, args=make_args(tmp_path, max_steps=60),
                               train_dataset={"ner": synthetic_ner(200, 0)}, eval_dataset={"ner": synthetic_ner(60, 2)},
                               processing_class=tokenizer)
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_ner_f1"] > 0.6, metrics
    model.save_pretrained(tmp_path / "saved")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "saved").eval()
    model.eval()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name
    input_ids = torch.randint(1000, 2000, (2, 6))
    scored = torch.ones(2, 6, dtype=torch.bool)
    assert torch.equal(model.heads["ner"].decode(model(input_ids=input_ids).logits, scored),
                       reloaded.heads["ner"].decode(reloaded(input_ids=input_ids).logits, scored))


def test_crf_model_loads_as_remote_code_without_hf_mtl(tmp_path):
    model = crf_model().eval()
    model.save_pretrained(tmp_path / "model")
    input_ids = torch.randint(1000, 2000, (2, 6))
    scored = torch.ones(2, 6, dtype=torch.bool)
    expected = model.heads["ner"].decode(model(input_ids=input_ids, task="ner").logits, scored)
    torch.save({"input_ids": input_ids, "expected": expected}, tmp_path / "io.pt")
    script = textwrap.dedent(f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        logits = model(input_ids=io["input_ids"], task="ner").logits
        got = model.heads["ner"].decode(logits, torch.ones(2, 6, dtype=torch.bool))
        assert torch.equal(got, io["expected"]), (got, io["expected"])
        print("REMOTE_CRF_OK")
    """)
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_CRF_OK" in result.stdout


def test_pipeline_groups_the_viterbi_path(tmp_path, tokenizer):  # noqa: F811
    from transformers import pipeline

    model = crf_model().eval()
    pipe = pipeline("multitask", model=model, tokenizer=tokenizer)
    words = "Ada Lovelace met Charles Babbage in London".split()
    result = pipe(words, is_split_into_words=True, tasks=["ner"])
    encoded = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    word_ids = encoded.word_ids()
    scored = torch.tensor([[w is not None and (i == 0 or word_ids[i - 1] != w) for i, w in enumerate(word_ids)]])
    with torch.no_grad():
        ids = model.heads["ner"].decode(model(**encoded, task="ner").logits, scored)[0][scored[0]].tolist()
    tags = [NER[i] for i in ids]
    spans = entity_spans(tags, detect_label_scheme(NER))
    assert [entity["word"] for entity in result["ner"]] == [" ".join(words[start:end]) for _, start, end in spans]


def test_export_and_onnx_refuse_a_crf_task_with_the_way_out(tmp_path):
    from hf_mtl.export.onnx_graph import OnnxExportError, export_onnx
    from hf_mtl.export.task_model import export_task

    model = crf_model()
    with pytest.raises(TaskError, match="decodes with a CRF"):
        export_task(model, "ner", tmp_path / "ner")
    with pytest.raises(OnnxExportError, match=r"Task\(s\) \['ner'\] decode with a CRF"):
        export_onnx(model, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists() and not (tmp_path / "ner").exists()
    export_task(model, "pos", tmp_path / "pos")  # the other task still exports
