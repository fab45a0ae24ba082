"""How transformers finds the ``multitask`` pipeline, and a ``predict`` helper.

The pipeline itself is [`~hf_mtl.modeling.pipeline_multitask.MultiTaskPipeline`]; the word/window mapping and
entity grouping it uses are pure functions in ``word_windows.py``. This module declares it to transformers both
ways: [`custom_pipelines`] is the ``config.json`` entry that remote-code loading follows (``save_pretrained``
imports it from here, so this file is copied next to the weights with the rest of the modeling core), and
[`register_pipeline`] registers it in the running process (hf_mtl calls it on import, so
``pipeline("multitask", model=folder)`` works without ``trust_remote_code``). [`predict`] is the list-in,
list-out helper of ``hf-mtl predict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers.pipelines import PIPELINE_REGISTRY

from .modeling_multitask import MultiTaskModel
from .pipeline_multitask import (
    DEFAULT_BATCH_SIZE,
    PIPELINE_TASK,
    MultiTaskPipeline,
    PipelineInputError,
)
from .word_windows import group_entities


def predict(
    model: MultiTaskModel,
    tokenizer: Any,
    texts: Any,
    tasks: str | Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Predict `tasks` (default: all) for a list of texts, pre-split sentences or `{"text", "text_pair"}` pairs;
    JSON-serializable results.

    Always returns a list (one dict per input, in input order), also for a single text or a generator. Other
    options (`top_k`, `threshold`, `stride`, `truncation`, `max_length`, `is_split_into_words`, `word_splitting`,
    `allow_single_text`, `num_workers`) are those of [`MultiTaskPipeline`].

    Example:
        ```python
        >>> from hf_mtl.modeling.inference import predict
        >>> predict(model, tokenizer, ["Ada Lovelace lived in London."], tasks=["ner"])
        [{'ner': [{'entity_group': 'PER', 'score': 0.99, 'word': 'Ada Lovelace', 'start': 0, 'end': 12}, ...]}]
        ```
    """
    pipe = MultiTaskPipeline(model=model, tokenizer=tokenizer, device=model.device)
    if tasks is not None:
        kwargs["tasks"] = tasks
    results = pipe(texts, batch_size=batch_size, **kwargs)
    return [results] if isinstance(results, dict) else list(results)


def custom_pipelines() -> dict[str, dict[str, Any]]:
    """The ``custom_pipelines`` entry of a saved ``config.json``: where transformers finds this pipeline as remote code.

    Example:
        >>> custom_pipelines()
        {'multitask': {'impl': 'pipeline_multitask.MultiTaskPipeline', 'pt': ['AutoModel'], 'type': 'text'}}
    """
    module = MultiTaskPipeline.__module__.rsplit(".", 1)[-1]
    return {PIPELINE_TASK: {"impl": f"{module}.{MultiTaskPipeline.__name__}", "pt": ["AutoModel"], "type": "text"}}


def register_pipeline() -> None:
    """Register the `"multitask"` task with transformers, so `pipeline("multitask", model=folder)` works.

    Idempotent; hf_mtl calls it on import. The model class is `AutoModel` (which hf_mtl maps to
    [`MultiTaskModel`]), as in the `custom_pipelines` entry saved folders carry for remote code.

    Example:
        >>> from transformers import pipeline
        >>> register_pipeline()
        >>> nlp = pipeline("multitask", model="path/to/multitask-model")  # doctest: +SKIP
    """
    from transformers import AutoModel

    current = PIPELINE_REGISTRY.supported_tasks.get(PIPELINE_TASK)
    if current is not None and current.get("impl") is MultiTaskPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=MultiTaskPipeline, pt_model=AutoModel, type="text")


__all__ = [
    "MultiTaskPipeline",
    "PipelineInputError",
    "custom_pipelines",
    "group_entities",
    "predict",
    "register_pipeline",
]
