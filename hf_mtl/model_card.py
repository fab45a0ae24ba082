"""The model card (README.md) written next to a trained model: tasks, labels, per-task results and a
`model-index` the Hub reads, built with huggingface_hub's `ModelCard`/`ModelCardData`/`EvalResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_multitask import HF_MTL_VERSION
from .metrics import main_metric_key

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A multi-task model trained with [hf_mtl](https://pypi.org/project/hf-mtl/) {{ version }}: one shared
`{{ encoder_type }}` encoder (from `{{ base_model }}`) and one head per task. One encoder pass serves every head.

## Tasks and results

| task | type | labels | metric | score | training examples seen |
|---|---|---|---|---|---|
{% for row in rows -%}
| {{ row.task }} | {{ row.type }} | {{ row.num_labels }} | {{ row.metric }} | {{ row.score }} | {{ row.seen }} |
{% endfor %}
{% if average is not none %}Average of the tasks' main metrics: **{{ average }}**.{% endif %}

Training took {{ train_seconds }} s; the model has {{ num_parameters }} parameters.
{% if truncation %}
## Truncation

{% for line in truncation %}- {{ line }}
{% endfor %}{% endif %}
## Use

```python
import hf_mtl  # or: AutoModel.from_pretrained(path, trust_remote_code=True) without hf_mtl
from transformers import AutoModel, AutoTokenizer, pipeline

model = AutoModel.from_pretrained("{{ repo_or_path }}")
predict = pipeline("multitask", model=model, tokenizer=AutoTokenizer.from_pretrained("{{ repo_or_path }}"))
predict("Angela Merkel visited Paris on Tuesday.")
```

Labels per task:
{% for row in rows %}
- **{{ row.task }}**: {{ row.labels }}{% endfor %}
"""

TASK_TYPE_FOR_HUB = {"token-classification": "token-classification", "text-classification": "text-classification"}


def _dataset_of(spec: Any) -> tuple[str, str]:
    source = spec.train
    if source is not None and source.format == "hub":
        return source.name, source.name
    # The Hub groups model-index results by (task type, dataset type): name each local dataset by its file.
    path = Path(source.path).name if source is not None and source.path else spec.name
    return path, path


def build_model_card(model: Any, result: Any, prepared: dict[str, Any], base_model: str,
                     truncation: dict[str, dict[str, Any]] | None = None, repo_or_path: str = ".") -> ModelCard:
    """A `ModelCard` for a trained model, with one `EvalResult` per task (its main metric)."""
    eval_results, rows = [], []
    for task, settings in model.config.tasks.items():
        metric = result.task_metrics.get(task, "")
        key = main_metric_key(metric) if metric else ""
        score = result.metrics.get(f"eval_{task}_{key}")
        spec = prepared[task].spec if task in prepared else None
        if score is not None and spec is not None:
            dataset_name, dataset_type = _dataset_of(spec)
            eval_results.append(
                EvalResult(
                    task_type=TASK_TYPE_FOR_HUB[settings["type"]],
                    task_name=task,
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_split="validation",
                    metric_type=key,
                    metric_name=f"{task} {metric} {key}",
                    metric_value=round(float(score), 4),
                )
            )
        labels = list(settings["id2label"].values())
        rows.append({
            "task": task,
            "type": settings["type"] + (f" ({settings['problem_type']})" if settings.get("problem_type") else ""),
            "num_labels": len(labels),
            "metric": f"{metric} ({key})" if metric else "",
            "score": f"{score:.4f}" if score is not None else "not evaluated",
            "seen": result.examples_seen.get(task, 0),
            "labels": ", ".join(f"`{label}`" for label in labels[:40]) + (" ..." if len(labels) > 40 else ""),
        })
    card_data = ModelCardData(
        base_model=base_model if "/" in base_model and not Path(base_model).exists() else None,
        library_name="transformers",
        tags=["hf-mtl", "multi-task", *sorted({s["type"] for s in model.config.tasks.values()})],
        model_name=Path(result.output_dir).name,
        eval_results=eval_results or None,
    )
    lines = [str(report) for reports in (truncation or {}).values() for report in reports.values()
             if getattr(report, "any_loss", False)]
    average = result.metrics.get("eval_average")
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE,
        model_name=Path(result.output_dir).name,
        version=HF_MTL_VERSION,
        encoder_type=model.config.encoder.model_type,
        base_model=base_model,
        rows=rows,
        average=f"{average:.4f}" if average is not None else None,
        train_seconds=f"{result.train_seconds:.1f}",
        num_parameters=f"{result.num_parameters:,}",
        truncation=lines,
        repo_or_path=repo_or_path,
    )


def write_model_card(folder: Path, model: Any, result: Any, prepared: dict[str, Any], base_model: str,
                     truncation: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write README.md (the model card) into ``folder``."""
    card = build_model_card(model, result, prepared, base_model, truncation, repo_or_path=str(folder))
    path = Path(folder) / "README.md"
    card.save(path)
    return path
