"""Decoder-only LLMs (Llama, Qwen2/3, Mistral, Gemma, GPT-2, SmolLM) as the shared backbone (issue #22).

Tiny random configs of each family, with a tiny byte-level BPE tokenizer that has no pad token (as GPT-2's and
Llama's): text tasks read the last real token, token tasks each word's first token; right and left padding give the
same logits; export gives the family's own `*ForSequenceClassification` / `*ForTokenClassification` with equal
logits; LoRA, bf16, the pipeline, a recipe run, save -> reload and remote code without hf_mtl.
"""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import yaml
from conftest import SAMPLES_DIR, TINY_TRAINING, run_without_hf_mtl
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.data import ensure_pad_token, prepare_tokenizer
from hf_mtl.export.task_model import export_task
from hf_mtl.modeling.lora import apply_lora, default_target_modules, merge_lora, trainable_parameters

TASKS = {"ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]},
         "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]}}
TEXTS = ["Angela Merkel visited Paris on Monday .", "Good film .", "The market fell sharply in London today"]
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SMALL = {"max_train_examples": 24, "max_eval_examples": 12, "max_length": 32}
WIDTH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37,
         "max_position_embeddings": 128}
FAMILIES = {  # model_type -> its tiny config settings (besides vocab_size)
    "llama": {**WIDTH, "num_key_value_heads": 1},
    "qwen2": {**WIDTH, "num_key_value_heads": 1},
    "qwen3": {**WIDTH, "num_key_value_heads": 1, "head_dim": 16},
    "mistral": {**WIDTH, "num_key_value_heads": 1, "head_dim": 16},
    "gemma": {**WIDTH, "num_key_value_heads": 1, "head_dim": 16},
    "gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 128},
}


def byte_level_tokenizer(bos: bool):
    """A GPT-2-style byte-level BPE tokenizer trained on the shipped samples, without a pad token (as GPT-2's and
    Llama's have none); ``bos``: it starts every input with ``<s>`` (Llama-style)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    lines = (SAMPLES_DIR / "sst2_train.tsv").read_text(encoding="utf-8").splitlines()[1:400]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([line.split("\t")[0] for line in lines] + TEXTS, trainer)
    if bos:
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                              special_tokens=[("<s>", backend.token_to_id("<s>"))])
    else:
        backend.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                        bos_token="<s>" if bos else None, model_max_length=128)
    assert tokenizer.pad_token is None
    return tokenizer


@pytest.fixture(scope="module")
def tokenizers():
    return {"gpt2": byte_level_tokenizer(bos=False), "llama": byte_level_tokenizer(bos=True)}


def tokenizer_for(family, tokenizers):
    return tokenizers["gpt2" if family == "gpt2" else "llama"]


def decoder_config(family, tokenizer, **overrides):
    ids = {"vocab_size": len(tokenizer), "eos_token_id": tokenizer.eos_token_id,
           "bos_token_id": tokenizer.bos_token_id or tokenizer.eos_token_id}
    return AutoConfig.for_model(family, **ids, **{**FAMILIES.get(family, WIDTH), **overrides})


def decoder_model(family, tokenizer, tasks=TASKS):
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=decoder_config(family, tokenizer), tasks=tasks))
    return model.eval()


def batch(tokenizer, side, words=False):
    tokenizer = prepare_tokenizer(tokenizer)
    tokenizer.padding_side = side
    inputs = [text.split() for text in TEXTS] if words else TEXTS
    return tokenizer(inputs, is_split_into_words=words, padding=True, return_tensors="pt")


def real_token_logits(logits, attention_mask):
    """Token logits of the real tokens only, row by row (padding removed): comparable across padding sides."""
    return [row[mask.bool()] for row, mask in zip(logits, attention_mask, strict=True)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_decoder_trains_and_pads_left_or_right_alike(family, tokenizers):
    tokenizer = tokenizer_for(family, tokenizers)
    model = decoder_model(family, tokenizer)
    assert model.config.tasks["sentiment"]["pooling"] == "last"  # the family's pooling: the last real token
    right, left = batch(tokenizer, "right"), batch(tokenizer, "left")
    assert not torch.equal(right["input_ids"], left["input_ids"])
    for task in TASKS:
        a = model(**right, task=task).logits
        b = model(**left, task=task).logits
        if task == "sentiment":
            torch.testing.assert_close(a, b)
        else:
            for x, y in zip(real_token_logits(a, right["attention_mask"]), real_token_logits(b, left["attention_mask"]),
                            strict=True):
                torch.testing.assert_close(x, y)
    model.train()
    words = batch(tokenizer, "right", words=True)
    labels = torch.where(words["attention_mask"].bool(), 0, -100)
    loss = model(**words, task="ner", labels=labels).loss + model(**right, task="sentiment",
                                                                  labels=torch.tensor([1, 0, 1])).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.heads.parameters())


def test_text_task_reads_the_last_real_token(tokenizers):
    tokenizer = tokenizers["llama"]
    model = decoder_model("llama", tokenizer)
    inputs = batch(tokenizer, "right")
    hidden = model.encoder(**inputs, position_ids=None).last_hidden_state
    last = inputs["attention_mask"].sum(-1) - 1
    expected = model.heads["sentiment"].classifier(hidden[torch.arange(len(TEXTS)), last])
    torch.testing.assert_close(model(**inputs, task="sentiment").logits, expected)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_is_the_family_own_class_with_equal_logits(family, tokenizers, tmp_path):
    tokenizer = ensure_pad_token(tokenizer_for(family, tokenizers))
    model = decoder_model(family, tokenizer)
    model.set_pad_token_id(tokenizer.pad_token_id)
    inputs = batch(tokenizer, "right")
    for task, auto_class in (("sentiment", AutoModelForSequenceClassification), ("ner", AutoModelForTokenClassification)):
        export_task(model, task, tmp_path / task, tokenizer)
        single = auto_class.from_pretrained(tmp_path / task).eval()
        assert type(single).__name__.lower().startswith(family.replace("_", "")), type(single).__name__
        assert single.config.pad_token_id == tokenizer.pad_token_id
        torch.testing.assert_close(single(**inputs).logits, model(**inputs, task=task).logits)


def test_export_of_a_decoder_without_pad_token_id_is_refused(tokenizers, tmp_path):
    from hf_mtl.modeling.errors import TaskError

    model = decoder_model("llama", tokenizers["llama"])
    assert model.config.encoder.pad_token_id is None
    with pytest.raises(TaskError, match="pad_token_id"):
        export_task(model, "sentiment", tmp_path / "out")


def _rating_model(tokenizer, mean):
    tasks = {"rating": {"type": "text-classification", "problem_type": "regression",
                        "standardize": {"mean": mean, "std": 2.0}}}
    model = decoder_model("llama", tokenizer, tasks)
    model.set_pad_token_id(tokenizer.pad_token_id)
    return model


def test_standardized_regression_on_a_bias_free_score(tokenizers, tmp_path, caplog):
    """`standardize: true` on a decoder, whose `score` has no bias: forward de-standardises (prediction * std + mean);
    export folds std into the weight when the mean is 0 (equal logits), and refuses in one line, writing nothing,
    when the mean needs a bias the family's class does not have."""
    from hf_mtl.modeling.errors import TaskError

    tokenizer = ensure_pad_token(tokenizers["llama"])
    inputs = batch(tokenizer, "right")
    model = _rating_model(tokenizer, mean=3.0)
    head = model.heads["rating"]
    assert head.classifier.bias is None
    with torch.no_grad():
        hidden = model.encoder(**inputs, position_ids=None).last_hidden_state
        last = inputs["attention_mask"].sum(-1) - 1
        standardized = head.classifier(hidden[torch.arange(len(TEXTS)), last])
        torch.testing.assert_close(model(**inputs, task="rating").logits, standardized * 2.0 + 3.0)
    with pytest.raises(TaskError, match=r"no bias to hold the standardisation's mean \(3\).*standardize: false"):
        export_task(model, "rating", tmp_path / "refused", tokenizer)
    assert not (tmp_path / "refused").exists()
    from hf_mtl.workflow.preflight import warn_unexportable_standardize

    with caplog.at_level("WARNING", logger="hf_mtl"):
        warn_unexportable_standardize(model)  # said before training, by the recipe's checks
    assert "task 'rating': `standardize: true` on a llama backbone" in caplog.text
    caplog.clear()
    centred = _rating_model(tokenizer, mean=0.0)
    with caplog.at_level("WARNING", logger="hf_mtl"):
        warn_unexportable_standardize(centred)
    assert not caplog.text
    export_task(centred, "rating", tmp_path / "rating", tokenizer)
    single = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rating").eval()
    assert single.score.bias is None
    with torch.no_grad():
        torch.testing.assert_close(single(**inputs).logits, centred(**inputs, task="rating").logits)


def test_missing_pad_token_is_set_from_eos_on_a_copy(tokenizers):
    original = tokenizers["gpt2"]
    padded = ensure_pad_token(original)
    assert original.pad_token is None and padded.pad_token == "<|endoftext|>"
    assert padded.pad_token_id == padded.eos_token_id
    assert ensure_pad_token(padded) is padded
    assert prepare_tokenizer(original).pad_token == "<|endoftext|>"


@pytest.mark.parametrize("family, expected", [("llama", {"q_proj", "v_proj"}), ("gpt2", {"c_attn"}),
                                              ("olmo2", {"q_proj", "v_proj"})])
def test_lora_targets_the_family_attention_and_reloads(family, expected, tokenizers, tmp_path):
    tokenizer = tokenizers["llama"]
    config = decoder_config(family, tokenizer)  # olmo2: a family PEFT has no default for (attention names found)
    torch.manual_seed(0)
    base = tmp_path / "base"
    AutoModel.from_config(config).save_pretrained(base)
    model = MultiTaskModel.from_encoder(str(base), tasks=TASKS)
    assert default_target_modules(model) == expected
    apply_lora(model, {"r": 2, "lora_alpha": 4})
    with torch.no_grad():  # non-zero adapters, so that reloading them is tested
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()
    trainable, total = trainable_parameters(model)
    assert 0 < trainable < total
    model.eval()
    inputs = batch(tokenizer, "right")
    expected_logits = {task: model(**inputs, task=task).logits for task in TASKS}
    model.save_pretrained(tmp_path / "adapter")
    reloaded = MultiTaskModel.from_pretrained(tmp_path / "adapter").eval()
    merged = merge_lora(model).eval()
    for task in TASKS:
        torch.testing.assert_close(reloaded(**inputs, task=task).logits, expected_logits[task])
        torch.testing.assert_close(merged(**inputs, task=task).logits, expected_logits[task], rtol=1e-5, atol=1e-5)


def test_bf16_decoder_trains_a_step(tokenizers, tmp_path):
    tokenizer = tokenizers["llama"]
    torch.manual_seed(0)
    AutoModel.from_config(decoder_config("llama", tokenizer)).save_pretrained(tmp_path / "base")
    model = MultiTaskModel.from_encoder(str(tmp_path / "base"), tasks=TASKS, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    inputs = batch(tokenizer, "left")
    loss = model(**inputs, task="sentiment", labels=torch.tensor([1, 0, 1])).loss
    loss.backward()
    assert torch.isfinite(loss) and loss.dtype == torch.float32


@pytest.fixture(scope="module")
def trained_decoder(tmp_path_factory, tokenizers):
    """A recipe run (hf_mtl.workflow.train) on a saved tiny Llama whose tokenizer has no pad token."""
    from hf_mtl.workflow.recipe import load_recipe
    from hf_mtl.workflow.train import train_recipe

    folder = tmp_path_factory.mktemp("decoder-run")
    tokenizer = tokenizers["llama"]
    torch.manual_seed(0)
    AutoModel.from_config(decoder_config("llama", tokenizer)).save_pretrained(folder / "base")
    tokenizer.save_pretrained(folder / "base")
    recipe = {
        "output_dir": str(folder / "model"),
        "model": {"encoder": str(folder / "base")},
        "tasks": [
            {"name": "ner", "type": "token-classification", "train": str(SAMPLES_DIR / "conll2003_train.txt"),
             "validation": str(SAMPLES_DIR / "conll2003_validation.txt"), "labels": CONLL_LABELS, **SMALL},
            {"name": "sentiment", "type": "text-classification", "train": str(SAMPLES_DIR / "sst2_train.tsv"),
             "validation": str(SAMPLES_DIR / "sst2_validation.tsv"), "text_column": "sentence",
             "label_map": {0: "negative", 1: "positive"}, **SMALL},
        ],
        "training": {**TINY_TRAINING, "max_steps": 3},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    result = train_recipe(load_recipe(folder / "recipe.yaml"), print_table=False)
    return folder / "model", result


def test_recipe_on_a_decoder_saves_a_pad_token_and_reloads_exactly(trained_decoder):
    folder, result = trained_decoder
    assert "eval_sentiment_accuracy" in result.metrics and "eval_ner_f1" in result.metrics
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert tokenizer.pad_token == "<|endoftext|>"  # set on the copy that was saved with the model
    assert config["encoder"]["pad_token_id"] == tokenizer.pad_token_id == config["pad_token_id"]
    model = MultiTaskModel.from_pretrained(folder).eval()
    again = MultiTaskModel.from_pretrained(folder).eval()
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    for task in TASKS:
        torch.testing.assert_close(model(**inputs, task=task).logits, again(**inputs, task=task).logits)


def test_pipeline_on_a_decoder_raw_and_pre_split(trained_decoder):
    from transformers import pipeline

    folder, _ = trained_decoder
    nlp = pipeline("multitask", model=str(folder))
    raw = nlp(TEXTS, batch_size=2)
    one_by_one = [nlp(text) for text in TEXTS]
    pre_split = nlp([text.split() for text in TEXTS], batch_size=3)
    for a, b, c in zip(raw, one_by_one, pre_split, strict=True):
        assert a["sentiment"]["label"] == b["sentiment"]["label"] == c["sentiment"]["label"]
        assert a["sentiment"]["score"] == pytest.approx(b["sentiment"]["score"], abs=1e-5)
        assert [(e["entity_group"], e["start"], e["end"]) for e in a["ner"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in b["ner"]]
        assert len(c["ner"]) == len(a["ner"])  # the same words tagged, pre-split or raw


def test_decoder_loads_as_remote_code_without_hf_mtl(trained_decoder, tmp_path):
    folder, _ = trained_decoder
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = MultiTaskModel.from_pretrained(folder).eval()
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    expected = {task: model(**inputs, task=task).logits.tolist() for task in TASKS}
    script = textwrap.dedent(
        f"""
        import json, torch
        from transformers import AutoModel, AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r})
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert "hf_mtl" not in type(model).__module__
        inputs = tokenizer({TEXTS!r}, padding=True, return_tensors="pt")
        with torch.no_grad():
            print("LOGITS", json.dumps({{t: model(**inputs, task=t).logits.tolist() for t in {list(TASKS)!r}}}))
        """
    )
    run = run_without_hf_mtl(script, tmp_path / "modules")
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.split("LOGITS", 1)[1])
    for task in TASKS:
        assert torch.tensor(got[task]).tolist() == expected[task]  # the very same computation: Δlogit 0


def _assert_same_output(a, b, where="output"):
    """Pipeline outputs equal: the same labels, words and offsets; scores and values within 1e-4."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-4), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same_output(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_output(x, y, f"{where}[{index}]")
    else:
        assert a == b, where


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2"])
def test_decoder_onnx_export_matches_pytorch(family, tokenizers, tmp_path):
    """One ONNX graph for a decoder backbone (a token, a text and a standardised regression task): onnxruntime's
    logits equal PyTorch's for right and left padding (position ids from the mask are in the graph), and the
    onnxruntime pipeline gives the PyTorch pipeline's output."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnxruntime

    from hf_mtl.export.onnx_graph import export_onnx, onnx_input_names
    from hf_mtl.export.onnx_runtime import onnx_pipeline
    from hf_mtl.modeling.pipeline_multitask import MultiTaskPipeline

    tokenizer = ensure_pad_token(tokenizer_for(family, tokenizers))
    rating = {"type": "text-classification", "problem_type": "regression", "standardize": {"mean": 3.0, "std": 2.0}}
    model = decoder_model(family, tokenizer, tasks={**TASKS, "rating": rating})
    model.set_pad_token_id(tokenizer.pad_token_id)
    path = export_onnx(model, tmp_path / "onnx", tokenizer)  # checked by onnxruntime on another shape (atol 1e-4)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for side in ("right", "left"):
        inputs = batch(tokenizer, side)
        got = session.run(None, {name: inputs[name].numpy() for name in onnx_input_names(model, tokenizer)})
        with torch.no_grad():
            expected = model.forward_all_tasks(**inputs)
        for task, array in zip(model.task_names, got, strict=True):
            if task == "ner":  # padded positions' logits are never read (and undefined for a fully masked row)
                for x, y in zip(real_token_logits(torch.from_numpy(array), inputs["attention_mask"]),
                                real_token_logits(expected[task], inputs["attention_mask"]), strict=True):
                    torch.testing.assert_close(x, y)
            else:
                torch.testing.assert_close(torch.from_numpy(array), expected[task])
    served = onnx_pipeline(tmp_path / "onnx")(TEXTS, batch_size=3)
    reference = MultiTaskPipeline(model=model, tokenizer=tokenizer)(TEXTS, batch_size=3)
    _assert_same_output(served, reference)
    assert reference[0]["rating"] != served[1]["rating"]  # real values, not one constant
