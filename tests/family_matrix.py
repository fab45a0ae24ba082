"""The backbone family matrix: every encoder family transformers ships, tried with a tiny random config.

Discovers the families from transformers itself (every ``model_type`` with an ``AutoModelForTokenClassification`` or
``AutoModelForSequenceClassification`` whose config ``encoder_families.architecture`` calls an encoder), so a
family added by a new transformers release is tried, or fails the test until it is listed in :data:`SKIP` with the
reason. ``tests/test_family_matrix.py`` runs the checks; ``docs/update_backbones.py`` writes their results as the
table of ``docs/backbones.md``.

Each family gets a 2-layer, 32-wide config, the embedded MiniLM's WordPiece tokenizer (its vocabulary sizes the
embeddings) and two tasks, a text task and a token task, so a check takes well under a second.
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch

TASKS = {"topic": {"type": "text-classification", "labels": ["a", "b", "c"]},
         "ner": {"type": "token-classification", "labels": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]}}
WORDS = ["Angela", "Merkel", "visited", "Paris", "."]
SENTENCES = ["Angela Merkel visited Paris .", "He left .", "The city of Berlin is large and old ."]

SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, embedding_size=32,
             max_position_embeddings=64, d_model=32, n_head=2, d_head=16, d_inner=64, n_layers=2, emb_dim=32,
             dim=32, hidden_dim=64, attention_window=4, num_key_value_heads=2, head_dim=16,
             global_attn_every_n_layers=1, local_attention=4, attention_type="original_full",
             max_2d_position_embeddings=64, true_hidden_size=32, intra_bottleneck_size=32, num_feedforward_networks=1,
             type_vocab_size=2, pad_token_id=0, num_labels=2)
"""Tiny sizes, applied where the family's config has the attribute."""

OVERRIDES: dict[str, dict[str, Any]] = {
    "funnel": {"block_sizes": [1, 1], "num_hidden_layers": None, "num_attention_heads": None,
               "attention_type": "relative_shift", "architectures": ["FunnelModel"]},
    "xmod": {"default_language": "en_XX"},
    "canine": {"downsampling_rate": 2, "num_hash_buckets": 64, "local_transformer_stride": 4},
    "esmc": {"num_hidden_layers": 2},
    "xlnet": {"n_layer": 2, "max_position_embeddings": None},  # XLNet has no position limit (its setter raises)
}
"""Per-family settings where the generic sizes do not fit (``None``: leave the family's default)."""

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "modernbert[mean]": ("modernbert", {"classifier_pooling": "mean"}),
    "eurobert[bos]": ("eurobert", {"classifier_pooling": "bos"}),
    "eurobert[mean]": ("eurobert", {"classifier_pooling": "mean"}),
}
"""Families tried a second time with another setting of their own head (ModernBERT's and EuroBERT's pooling)."""

SKIP: dict[str, str] = {
    "layoutlmv2": "needs detectron2 (its visual backbone), which is not installed",
    "perceiver": "reads bytes through a latent array; has no token-classification class and no hidden_size",
    "reformer": "needs axial position embeddings sized to the sequence length (no tiny generic config)",
    "modernvbert": "a vision-language model (image inputs)",
    "ultravbert": "a vision-language model (image inputs)",
    "tapas": "reads tables: token_type_ids of 7 columns made by its own tokenizer",
    "bros": "needs bounding boxes (bbox) for every token",
    "lilt": "needs bounding boxes (bbox) for every token",
    "layoutlmv3": "needs bounding boxes (bbox) and image inputs",
    "markuplm": "needs XPath inputs for every token",
    "luke": "needs entity inputs for its sequence head",
    "openai_privacy_filter": "a token classifier built on a decoder stack (no sequence head)",
    "esmc": "a protein model whose config has no vocab_size to size from a text tokenizer",
    "jina_embeddings_v3": "needs task LoRA adapters (adapter_mask) in every forward pass",
}
"""Families that cannot be built and run on text alone, each with the reason (they are reported, not hidden)."""

CHECKS = ("train", "reload", "remote_code", "pipeline", "export", "onnx", "gradient_checkpointing", "pooling")

TEXT_EXPORT_REFUSED = ("funnel", "canine")
"""Families whose text tasks are refused by export, with the reason (``ExportLayout.text_refusal``); their token
tasks export, and their text heads are then not the family's own (the ``pooling`` check is a refusal)."""

ONNX_REFUSED: dict[str, tuple[str, str]] = {
    "longformer": ("data-dependent expression",
                   "torch.export cannot trace its sliding-window chunks, whose shapes depend on the data"),
    "funnel": ("fixed the sequence length", "its pooling computes with the sequence length as a number: the graph "
                                            "would hold one length"),
    "canine": ("fixed the sequence length", "its downsampling computes with the sequence length as a number: the "
                                            "graph would hold one length"),
    "xlnet": ("OpOverload for aten.sub", "torch.onnx's type promotion fails on its `1.0 - attention_mask`"),
}
"""Families whose ONNX export is refused, with (a part of the one-line error, the reason shown in docs/backbones.md).
Each is a limitation of torch.onnx / torch.export on the family's own code (found by the slow ``test_family_onnx``);
every other family's graph matches PyTorch on real tokens (``check_onnx``: atol 1e-4)."""


def quiet() -> None:
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    from conftest import minilm_dir
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_dir())


def discovered_families() -> list[str]:
    """Every encoder ``model_type`` with a token- or sequence-classification class in transformers, sorted."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
    )

    from hf_mtl.modeling.encoder_families import ENCODER, architecture

    found = []
    for model_type in sorted(set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES)
                             | set(MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES)):
        try:
            config = AutoConfig.for_model(model_type)
        except Exception:  # noqa: BLE001 - a family whose config cannot even be made is not ours to judge
            continue
        if architecture(config) == ENCODER:
            found.append(model_type)
    return found


def matrix_families() -> list[str]:
    """What the matrix tries: the discovered families that are not skipped, and the variants."""
    return [family for family in discovered_families() if family not in SKIP] + sorted(VARIANTS)


def tiny_encoder_config(family: str) -> Any:
    """A 2-layer, 32-wide config of ``family`` (or a :data:`VARIANTS` name) sized to the MiniLM vocabulary."""
    from transformers import AutoConfig

    model_type, extra = VARIANTS.get(family, (family, {}))
    default = AutoConfig.for_model(model_type)
    settings = {key: value for key, value in SIZES.items() if hasattr(default, key)}
    settings.update(OVERRIDES.get(model_type, {}))
    settings.update(extra)
    settings = {key: value for key, value in settings.items() if value is not None}
    if hasattr(default, "vocab_size"):
        settings["vocab_size"] = len(tokenizer())
    return AutoConfig.for_model(model_type, **settings)


def family_tokenizer(model: Any) -> Any:
    """The MiniLM tokenizer, making ``token_type_ids`` only for an encoder whose forward takes them, padding on the
    side the family's own sequence class needs (``EncoderFamily.padding_side``: XLNet's tokenizer pads left)."""
    import copy

    from hf_mtl.modeling.encoder_families import encoder_family

    parameters = inspect.signature(model.encoder.forward).parameters
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if "token_type_ids" in parameters else [])
    tok = copy.deepcopy(tokenizer())
    tok.model_input_names = names
    tok.padding_side = encoder_family(model.config.encoder).padding_side
    return tok


def build(family: str, seed: int = 0) -> Any:
    """A fresh ``MultiTaskModel`` on the tiny config of ``family``, in eval mode."""
    from hf_mtl import MultiTaskConfig, MultiTaskModel

    torch.manual_seed(seed)
    return MultiTaskModel(MultiTaskConfig(encoder=tiny_encoder_config(family), tasks=TASKS)).eval()


def batch(model: Any) -> dict[str, torch.Tensor]:
    """The sentences, padded (right), as the family's tokenizer encodes them."""
    return dict(family_tokenizer(model)(SENTENCES, padding=True, return_tensors="pt"))


# ------------------------------------------------------------------ the checks (each raises on a failure)
def check_train(family: str, tmp_path: Any) -> None:
    """Two optimizer steps on each task change the weights and give finite losses."""
    model = build(family).train()
    inputs = batch(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ner = torch.full(inputs["input_ids"].shape, -100)
    ner[:, 1] = 1
    for task, labels in (("topic", torch.tensor([0, 1, 2])), ("ner", ner)):
        loss = model(**inputs, labels=labels, task=task).loss
        assert torch.isfinite(loss), f"{family}: loss {loss}"
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    changed = [name for name, tensor in model.state_dict().items() if not torch.equal(before[name], tensor)]
    assert any(name.startswith("encoder.") for name in changed) and any(name.startswith("heads.") for name in changed)


def check_reload(family: str, tmp_path: Any) -> None:
    """save_pretrained / from_pretrained give the same logits for every task."""
    from hf_mtl import MultiTaskModel

    model = build(family)
    model.save_pretrained(tmp_path)
    reloaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    inputs = batch(model)
    with torch.no_grad():
        for task in TASKS:
            torch.testing.assert_close(reloaded(**inputs, task=task).logits, model(**inputs, task=task).logits)


def check_pipeline(family: str, tmp_path: Any) -> None:
    """The multitask pipeline predicts the same for raw text and for the same text as pre-split words."""
    from hf_mtl.modeling.pipeline_multitask import MultiTaskPipeline

    model = build(family)
    pipe = MultiTaskPipeline(model=model, tokenizer=family_tokenizer(model))
    raw, split = pipe(" ".join(WORDS)), pipe(WORDS, is_split_into_words=True)
    assert raw == split, f"{family}: raw {raw} != pre-split {split}"


def export_logits(family: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per task: (the multi-task model's logits, the exported single-task model's logits) on a padded batch."""
    from hf_mtl.export.task_model import build_single_task_model
    from hf_mtl.modeling.errors import TaskError

    model = build(family)
    inputs = batch(model)
    pairs = {}
    with torch.no_grad():
        for task in sorted(TASKS):  # the token task first: it exports for every family
            if task == "topic" and family in TEXT_EXPORT_REFUSED:
                try:
                    build_single_task_model(model, task)
                except TaskError as error:
                    raise Refused(str(error)) from None
                raise AssertionError(f"{family}: the text task was exported although its head is not the family's")
            single = build_single_task_model(model, task)
            pairs[task] = (model(**inputs, task=task).logits, single(**inputs).logits)
    return pairs


def check_export(family: str, tmp_path: Any) -> None:
    """Each task exports to the family's own AutoModelFor*Classification with the same logits."""
    for task, (expected, got) in export_logits(family).items():
        torch.testing.assert_close(got, expected, msg=lambda m, t=task: f"{family} {t}: {m}")


def check_pooling(family: str, tmp_path: Any) -> None:
    """The text head pools as the family's own sequence head: equal logits, padding positions ignored."""
    from hf_mtl.export.task_model import build_single_task_model

    model = build(family)
    with torch.no_grad():
        if family in TEXT_EXPORT_REFUSED:
            raise Refused(f"{family}: its sequence head reads what the shared encoder does not give")
        single = build_single_task_model(model, "topic")
        torch.testing.assert_close(single(**batch(model)).logits, model(**batch(model), task="topic").logits)
    inputs = batch(model)
    noisy = dict(inputs)
    noisy["input_ids"] = inputs["input_ids"].clone()
    padding = inputs["attention_mask"] == 0
    noisy["input_ids"][padding] = 1000  # another token on padded positions: the mask hides it
    with torch.no_grad():
        clean, dirty = model(**inputs, task="topic").logits, model(**noisy, task="topic").logits
    from hf_mtl.modeling.encoder_families import encoder_family

    if not encoder_family(model.config.encoder).padding_dependent:
        torch.testing.assert_close(dirty, clean)


def check_gradient_checkpointing(family: str, tmp_path: Any) -> None:
    """Supported families train with it; the others refuse it at once, naming the family."""
    from hf_mtl.modeling.encoder_families import supports_gradient_checkpointing

    model = build(family).train()
    if not supports_gradient_checkpointing(model.config.encoder):
        try:
            model.activation_checkpointing_enable()
        except ValueError as error:
            assert f"'{model.config.encoder.model_type}' encoders" in str(error)
            raise Refused(str(error)) from None
        raise AssertionError(f"{family}: gradient checkpointing was accepted although the family does not support it")
    model.activation_checkpointing_enable()
    inputs = batch(model)
    model(**inputs, labels=torch.tensor([0, 1, 2]), task="topic").loss.backward()


def check_onnx(family: str, tmp_path: Any) -> None:
    """One ONNX graph with every head, checked against PyTorch by onnxruntime (or a one-line refusal, no files)."""
    from hf_mtl.export.onnx_graph import OnnxExportError, export_onnx

    model = build(family)
    try:
        export_onnx(model, tmp_path / "onnx", family_tokenizer(model))
    except OnnxExportError as error:
        assert not (tmp_path / "onnx").exists(), f"{family}: files left behind"
        raise Refused(str(error).splitlines()[0]) from None


class Refused(Exception):
    """A check that the family cannot pass, refused with a clear one-line error (a status, not a failure)."""


CHECK_FUNCTIONS: dict[str, Callable[[str, Any], None]] = {
    "train": check_train, "reload": check_reload, "pipeline": check_pipeline, "export": check_export,
    "onnx": check_onnx, "gradient_checkpointing": check_gradient_checkpointing, "pooling": check_pooling,
}
