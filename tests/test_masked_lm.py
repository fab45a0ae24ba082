"""The masked-lm task kind: the family's own MLM head (tied decoder), masking statistics, raw-text data, perplexity,
mixing with other tasks, the pipeline skipping it, save -> reload -> remote code."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import minilm_dir, run_without_hf_mtl, tiny_bert_config
from transformers import (
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    DistilBertConfig,
    ElectraConfig,
    RobertaConfig,
)

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data import DataCollatorForMultiTask
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.metrics import compute_task_metrics
from hf_mtl.modeling.errors import TaskError
from hf_mtl.modeling.task_kinds import IGNORE_INDEX

TASKS = {"ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER"]}, "mlm": {"type": "masked-lm"}}


def mlm_model(seed: int = 0) -> MultiTaskModel:
    torch.manual_seed(seed)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TASKS))


FAMILIES = {
    "bert": BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37),
    "roberta": RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=37),
    "electra": ElectraConfig(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=37),
    "distilbert": DistilBertConfig(vocab_size=99, dim=32, n_layers=1, n_heads=2, hidden_dim=37),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_head_is_the_family_mlm_head_started_from_the_checkpoint(tmp_path, family):
    torch.manual_seed(0)
    pretrained = AutoModelForMaskedLM.from_config(FAMILIES[family]).eval()
    with torch.no_grad():  # a head unlike a fresh one: the copy must come from the checkpoint
        for name, parameter in pretrained.named_parameters():
            if not name.startswith(pretrained.base_model_prefix + "."):
                parameter.add_(0.5)
    pretrained.save_pretrained(tmp_path / "encoder")
    model = MultiTaskModel.from_encoder(str(tmp_path / "encoder"), tasks={"mlm": {"type": "masked-lm"}}).eval()
    ids = torch.randint(5, 99, (2, 7))
    torch.testing.assert_close(model(input_ids=ids, task="mlm").logits, pretrained(input_ids=ids).logits)
    # one owner of the tied decoder weight: the encoder's word embeddings; the head keeps only the bias
    names = [name for name in model.state_dict() if name.startswith("heads.mlm.")]
    assert not any(name.endswith("decoder.weight") or name.endswith("lm_head.weight") or
                   name.endswith("projector.weight") for name in names), names
    model.save_pretrained(tmp_path / "model")  # safetensors refuses shared tensors: no error means one owner
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "model").eval()
    assert torch.equal(reloaded(input_ids=ids, task="mlm").logits, model(input_ids=ids, task="mlm").logits)


def test_the_decoder_follows_the_embeddings_in_training():
    model = mlm_model()
    embeddings = model.encoder.get_input_embeddings().weight
    ids = torch.randint(1000, 2000, (2, 6))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 2] = ids[:, 2]
    model(input_ids=ids, labels=labels, task="mlm").loss.backward()
    assert embeddings.grad is not None and embeddings.grad[ids[:, 2]].abs().sum() > 0  # the decoder path too
    model.eval()
    with torch.no_grad():
        embeddings[ids[0, 2]] += 1.0
    row = model(input_ids=ids, task="mlm").logits[0, 0, ids[0, 2]]
    hidden = model.heads["mlm"].family["cls"].predictions.transform(model.encoder(input_ids=ids).last_hidden_state)
    bias = model.heads["mlm"].family["cls"].predictions.decoder.bias
    torch.testing.assert_close(row, hidden[0, 0] @ embeddings[ids[0, 2]] + bias[ids[0, 2]])


def test_masking_statistics_match_bert(tokenizer):
    collate = DataCollatorForMultiTask(tokenizer, {"mlm": "masked-lm"}, mask_seed=0)
    rng = np.random.default_rng(0)
    features = []
    for _ in range(400):
        n = int(rng.integers(20, 60))
        body = rng.integers(1000, 29000, n).tolist()
        features.append({"task": "mlm", "input_ids": [101, *body, 102], "attention_mask": [1] * (n + 2)})
    original = collate._pad_inputs(features)["input_ids"]
    batch = collate(features)
    labels, inputs = batch["labels"], batch["input_ids"]
    maskable = ~torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    masked = labels != IGNORE_INDEX
    assert not (masked & ~maskable).any()  # never [CLS], [SEP] or padding
    assert torch.equal(labels[masked], original[masked])
    fraction = masked.sum().item() / maskable.sum().item()
    assert fraction == pytest.approx(0.15, abs=0.01)
    n = masked.sum().item()
    as_mask = (inputs[masked] == tokenizer.mask_token_id).sum().item() / n
    kept = (inputs[masked] == original[masked]).sum().item() / n
    replaced = 1 - as_mask - kept
    assert as_mask == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1, abs=0.02)  # a random token equal to the original counts as kept (1/30522)
    assert replaced == pytest.approx(0.1, abs=0.02)
    assert torch.equal(inputs[~masked], original[~masked])
    # deterministic under a seed; another seed draws other masks; each batch draws anew
    again = DataCollatorForMultiTask(tokenizer, {"mlm": "masked-lm"}, mask_seed=0)(features)
    assert torch.equal(again["labels"], labels) and torch.equal(again["input_ids"], inputs)
    other = DataCollatorForMultiTask(tokenizer, {"mlm": "masked-lm"}, mask_seed=1)(features)
    assert not torch.equal(other["labels"], labels)
    assert not torch.equal(collate(features)["labels"], labels)


def test_raw_text_reads_lines_columns_and_conllu_and_masks_evaluation_once(tmp_path, tokenizer):
    from hf_mtl.data import prepare_task

    (tmp_path / "train.txt").write_text("The first line of text.\n\nA second, longer line of text here.\n" * 5)
    (tmp_path / "dev.csv").write_text("id,body\n1,one more text\n2,and another text to score\n")
    spec = TaskSpec(name="mlm", type="masked-lm", train=str(tmp_path / "train.txt"),
                    validation={"path": str(tmp_path / "dev.csv"), "format": "csv"}, text_column="body")
    data = prepare_task(spec, tokenizer)
    assert data.raw["train"]["text"][:2] == ["The first line of text.", "A second, longer line of text here."]
    assert data.raw["train"].num_rows == 10 and any("skipped 5 empty lines" in note for note in data.notes)
    assert "labels" not in data.tokenized["train"].column_names  # masked per batch by the collator
    validation = data.tokenized["validation"]
    assert set(validation.column_names) >= {"input_ids", "labels"}
    again = prepare_task(spec, tokenizer).tokenized["validation"]
    assert again["input_ids"][:] == validation["input_ids"][:] and again["labels"][:] == validation["labels"][:]
    assert data.head_config["id2label"] == {0: "vocabulary"} and data.metric == "perplexity"
    ud = prepare_task(TaskSpec(name="mlm", type="masked-lm", train="recipes/data/ud_en_ewt_train.conllu"), tokenizer)
    assert ud.raw["train"]["text"][0].count(" ") >= 1


def test_bad_input_is_refused_before_training(tmp_path, tokenizer):
    from hf_mtl.data import prepare_task
    from hf_mtl.modeling.errors import DataError

    (tmp_path / "t.txt").write_text("some text\n")
    with pytest.raises(TaskError, match="cannot share a group's encoder pass"):
        TaskSpec(name="mlm", type="masked-lm", train=str(tmp_path / "t.txt"), group="ud")
    with pytest.raises(TaskError, match="a masked-lm task has no `labels`"):
        TaskSpec(name="mlm", type="masked-lm", train=str(tmp_path / "t.txt"), labels=["a"])
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no text found"):
        prepare_task(TaskSpec(name="mlm", type="masked-lm", train=str(tmp_path / "empty.txt")), tokenizer)
    no_mask = AutoTokenizer.from_pretrained(minilm_dir())
    no_mask.mask_token = None
    with pytest.raises(TaskError, match=r"^task 'mlm' \(masked-lm\): the tokenizer of .* has no mask token"):
        prepare_task(TaskSpec(name="mlm", type="masked-lm", train=str(tmp_path / "t.txt")), no_mask)


def test_perplexity_is_exp_of_the_mean_masked_nll():
    scores = np.zeros((2, 3, 2))
    scores[0, 1] = [np.log(2.0), 1.0]
    scores[1, 0] = [np.log(8.0), 0.0]
    scores[1, 2] = [99.0, 1.0]  # not masked: ignored
    labels = np.array([[-100, 5, -100], [7, -100, -100]])
    result = compute_task_metrics("perplexity", scores, labels)
    assert result["perplexity"] == pytest.approx(4.0) and result["accuracy"] == pytest.approx(0.5)
    model = mlm_model()
    ids = torch.randint(1000, 2000, (2, 5))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 1], labels[1, 3] = ids[0, 1], ids[1, 3]
    with torch.no_grad():
        output = model.eval()(input_ids=ids, labels=labels, task="mlm")
    inputs = model.heads["mlm"].metric_inputs(output.logits, labels).numpy()
    assert compute_task_metrics("perplexity", inputs, labels.numpy())["perplexity"] == pytest.approx(
        float(torch.exp(output.loss)), rel=1e-5)


def test_it_mixes_with_other_tasks_under_every_sampling_strategy(tmp_path, tokenizer):
    from test_trainer import make_args, synthetic_ner

    from hf_mtl.training.sampling import SAMPLING_STRATEGIES
    from hf_mtl.training.trainer import MultiTaskTrainer

    ner = synthetic_ner(48, 0)
    text = ner.remove_columns("labels")
    for strategy in SAMPLING_STRATEGIES:
        trainer = MultiTaskTrainer(model=mlm_model(), args=make_args(tmp_path / strategy, max_steps=6, logging_steps=2,
                                                                                 sampling=strategy),
                                   train_dataset={"ner": ner, "mlm": text}, processing_class=tokenizer)
        tasks = set()
        for batch in trainer.get_train_dataloader():
            tasks.add(batch["task"])
            if batch["task"] == "mlm":
                assert (batch["labels"] != IGNORE_INDEX).any()
        assert tasks == {"ner", "mlm"}, strategy
    trainer.train()
    losses = [entry for entry in trainer.state.log_history if "loss_mlm" in entry]
    assert losses and np.isfinite(losses[-1]["loss_mlm"])


def test_pipeline_skips_it_and_remote_code_loads_it_bit_exact(tmp_path, tokenizer):
    from transformers import pipeline

    model = mlm_model().eval()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    nlp = pipeline("multitask", model=str(tmp_path / "model"), trust_remote_code=False)
    assert set(nlp("Ada Lovelace wrote programs.")) == {"ner"}
    with pytest.raises(TaskError, match=r"\['mlm'\] \(masked-lm\) train the encoder"):
        nlp("Ada Lovelace wrote programs.", tasks=["mlm"])
    ids = torch.randint(1000, 2000, (2, 6))
    expected = model(input_ids=ids, task="mlm").logits
    torch.save({"input_ids": ids, "expected": expected}, tmp_path / "io.pt")
    script = textwrap.dedent(f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r})
        got = model(input_ids=io["input_ids"], task="mlm").logits
        assert torch.equal(got, io["expected"]), (got - io["expected"]).abs().max()
        print("REMOTE_MLM_OK")
    """)
    result = run_without_hf_mtl(script, tmp_path / "modules", timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_MLM_OK" in result.stdout


def test_push_drops_it_unless_asked_and_export_refuses_it(tmp_path, monkeypatch):
    import json

    from safetensors import safe_open

    from hf_mtl.export import hub
    from hf_mtl.export.task_model import export_task

    model = mlm_model().eval()
    model.save_pretrained(tmp_path / "model")
    uploaded = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, *args, **kwargs):
            pass

        def upload_folder(self, folder_path, **kwargs):
            config = json.loads((Path(folder_path) / "config.json").read_text())
            with safe_open(str(Path(folder_path) / "model.safetensors"), "pt") as weights:
                uploaded[len(uploaded)] = (sorted(config["tasks"]), any(k.startswith("heads.mlm.") for k in weights.keys()))
            return "https://hub/commit"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    hub.push_model_folder(tmp_path / "model", "user/model")
    hub.push_model_folder(tmp_path / "model", "user/model", keep_auxiliary=True)
    assert uploaded == {0: (["ner"], False), 1: (["mlm", "ner"], True)}
    assert sorted(json.loads((tmp_path / "model" / "config.json").read_text())["tasks"]) == ["mlm", "ner"]  # untouched
    with pytest.raises(TaskError, match="only trains the encoder"):
        export_task(model, "mlm", tmp_path / "export")


@pytest.mark.slow
def test_onnx_export_leaves_it_out_unless_asked(tmp_path, tokenizer):
    pytest.importorskip("onnxruntime")
    import onnx

    from hf_mtl.export.onnx_graph import export_onnx

    path = export_onnx(mlm_model().eval(), tmp_path / "onnx", tokenizer)
    assert [output.name for output in onnx.load(str(path), load_external_data=False).graph.output] == ["logits_ner"]
