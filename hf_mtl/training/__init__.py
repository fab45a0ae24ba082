"""Training: `MultiTaskTrainer` (a `transformers.Trainer` that knows about tasks), its arguments, task sampling and
the one task index, evaluation and prediction per task, checkpoints and resumability, LoRA, the model-card callback.

Imports the modeling core, `hf_mtl.data` and `hf_mtl.metrics`; nothing here is copied next to saved weights.
"""
