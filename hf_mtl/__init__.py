"""hf_mtl: multi-task fine-tuning of Hugging Face transformers (one shared encoder, many task heads).

Importing hf_mtl registers :class:`MultiTaskConfig`/:class:`MultiTaskModel` with ``AutoConfig``/``AutoModel``,
so ``AutoModel.from_pretrained(folder)`` returns a :class:`MultiTaskModel`. Saved folders also carry the
modeling code, so ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works without hf_mtl.
"""

from transformers import AutoConfig, AutoModel

from .configuration_multitask import HF_MTL_VERSION as __version__
from .configuration_multitask import MultiTaskConfig
from .errors import DataError, HfMtlError, RecipeError, TaskError
from .modeling_multitask import MultiTaskModel, MultiTaskModelOutput
from .pipeline import MultiTaskPipeline, register_pipeline

AutoConfig.register(MultiTaskConfig.model_type, MultiTaskConfig, exist_ok=True)
AutoModel.register(MultiTaskConfig, MultiTaskModel, exist_ok=True)
# save_pretrained then copies the modeling core next to the weights and writes `auto_map` in config.json.
MultiTaskConfig.register_for_auto_class()
MultiTaskModel.register_for_auto_class("AutoModel")
register_pipeline()  # pipeline("multitask", model=folder)


def __getattr__(name: str):
    # The training stack (datasets, accelerate) is imported on first use, so inference stays light.
    lazy = {
        "MultiTaskTrainer": "trainer",
        "MultiTaskTrainingArguments": "training_args",
        "MultiTaskModelCardData": "model_card",
        "TaskSpec": "tasks",
        "DataSource": "data_sources",
        "prepare_task": "data",
        "load_recipe": "recipe",
        "train_recipe": "workflow",
        "compare_recipe": "compare",
        "export_task": "export",
        "apply_lora": "lora",
        "merge_lora": "lora",
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
