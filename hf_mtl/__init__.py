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

AutoConfig.register(MultiTaskConfig.model_type, MultiTaskConfig, exist_ok=True)
AutoModel.register(MultiTaskConfig, MultiTaskModel, exist_ok=True)
# save_pretrained then copies the modeling core next to the weights and writes `auto_map` in config.json.
MultiTaskConfig.register_for_auto_class()
MultiTaskModel.register_for_auto_class("AutoModel")

__all__ = [
    "DataError",
    "HfMtlError",
    "MultiTaskConfig",
    "MultiTaskModel",
    "MultiTaskModelOutput",
    "RecipeError",
    "TaskError",
    "__version__",
]
