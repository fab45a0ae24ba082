"""Inference for multi-task models: the ``multitask`` pipeline, its registration, and a ``predict`` helper.

The pipeline itself is [`~hf_mtl.pipeline_multitask.MultiTaskPipeline`] (in ``pipeline_multitask.py``, which is
copied next to saved weights so it also loads as remote code); the word/window mapping and entity grouping it
uses are pure functions in ``word_windows.py``. This module adds what needs hf_mtl installed:
[`register_pipeline`] (hf_mtl calls it on import, so ``pipeline("multitask", model=folder)`` works without
``trust_remote_code``) and [`predict`].
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
    custom_pipelines,
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
    """Predict `tasks` (default: all) for a list of texts (or pre-split sentences); JSON-serializable results.

    Always returns a list (one dict per input, in input order), also for a single text or a generator. Other
    options (`top_k`, `threshold`, `stride`, `truncation`, `max_length`, `is_split_into_words`, `num_workers`)
    are those of [`MultiTaskPipeline`].

    Example:
        ```python
        >>> from hf_mtl.pipeline import predict
        >>> predict(model, tokenizer, ["Ada Lovelace lived in London."], tasks=["ner"])
        [{'ner': [{'entity_group': 'PER', 'score': 0.99, 'word': 'Ada Lovelace', 'start': 0, 'end': 12}, ...]}]
        ```
    """
    pipe = MultiTaskPipeline(model=model, tokenizer=tokenizer, device=model.device)
    if tasks is not None:
        kwargs["tasks"] = tasks
    results = pipe(texts, batch_size=batch_size, **kwargs)
    return [results] if isinstance(results, dict) else list(results)


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
