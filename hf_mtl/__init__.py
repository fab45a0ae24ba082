"""hf_mtl: multi-task fine-tuning of Hugging Face transformers (one shared encoder, many task heads).

Importing hf_mtl registers :class:`MultiTaskConfig`/:class:`MultiTaskModel` with ``AutoConfig``/``AutoModel``,
so ``AutoModel.from_pretrained(folder)`` returns a :class:`MultiTaskModel`. Saved folders also carry the
modeling code, so ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works without hf_mtl.
"""

from transformers import AutoConfig, AutoModel

from .modeling.configuration_multitask import HF_MTL_VERSION as __version__
from .modeling.configuration_multitask import MultiTaskConfig
from .modeling.errors import DataError, HfMtlError, RecipeError, TaskError
from .modeling.inference import MultiTaskPipeline, register_pipeline
from .modeling.modeling_multitask import MultiTaskModel, MultiTaskModelOutput

AutoConfig.register(MultiTaskConfig.model_type, MultiTaskConfig, exist_ok=True)
AutoModel.register(MultiTaskConfig, MultiTaskModel, exist_ok=True)
# save_pretrained then copies the modeling core next to the weights and writes `auto_map` in config.json.
MultiTaskConfig.register_for_auto_class()
MultiTaskModel.register_for_auto_class("AutoModel")
register_pipeline()  # pipeline("multitask", model=folder)


def __getattr__(name: str):
    # The training stack (datasets, accelerate) is imported on first use, so inference stays light.
    lazy = {
        "MultiTaskTrainer": "training.trainer",
        "MultiTaskTrainingArguments": "training.training_args",
        "MultiTaskModelCardData": "export.model_card",
        "TaskSpec": "data.tasks",
        "DataSource": "data.sources",
        "prepare_task": "data",
        "load_recipe": "workflow.recipe",
        "train_recipe": "workflow.train",
        "compare_recipe": "workflow.compare",
        "export_task": "export.task_model",
        "apply_lora": "modeling.lora",
        "merge_lora": "modeling.lora",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f".{lazy[name]}", __name__), name)
    raise AttributeError(f"module 'hf_mtl' has no attribute {name!r}")

__all__ = [
    "DataError",
    "DataSource",
    "MultiTaskModelCardData",
    "MultiTaskPipeline",
    "MultiTaskTrainer",
    "MultiTaskTrainingArguments",
    "TaskSpec",
    "apply_lora",
    "compare_recipe",
    "export_task",
    "load_recipe",
    "merge_lora",
    "prepare_task",
    "register_pipeline",
    "train_recipe",
    "HfMtlError",
    "MultiTaskConfig",
    "MultiTaskModel",
    "MultiTaskModelOutput",
    "RecipeError",
    "TaskError",
    "__version__",
]
