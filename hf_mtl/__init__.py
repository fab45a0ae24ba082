"""hf_mtl: multi-task fine-tuning of Hugging Face transformers (one shared encoder, many task heads)."""

__version__ = "0.1.0"
