"""The model card side of ``MultiTaskTrainer``: :class:`ModelCardCallback` fills the trainer's
:class:`~hf_mtl.export.model_card.MultiTaskModelCardData` from training events, and :class:`ModelCardMixin` gives the
trainer its ``create_model_card``, a ``save_model`` that writes the card and a ``push_to_hub`` that leaves
``runs/`` and ``training_args.bin`` out unless asked."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainingArguments

from ..export.model_card import MultiTaskModelCardData, save_card_data, write_model_card
from ..modeling.errors import HfMtlError
from ..modeling.task_layers import parameter_counts

__all__ = ["ModelCardCallback", "ModelCardMixin", "training_hyperparameters"]


def training_hyperparameters(trainer: Any) -> dict[str, Any]:
    """transformers' own summary of the training arguments, plus hf_mtl's (sampling, loss weights, ...)."""
    from transformers.modelcard import extract_hyperparameters_from_trainer

    hyperparameters = extract_hyperparameters_from_trainer(trainer)
    stock = {f.name for f in dataclasses.fields(TrainingArguments)}
    for item in dataclasses.fields(trainer.args):
        if item.name not in stock and getattr(trainer.args, item.name, None) is not None:
            hyperparameters[item.name] = getattr(trainer.args, item.name)
    return hyperparameters


class ModelCardCallback(TrainerCallback):
    """Fills the trainer's :class:`MultiTaskModelCardData` from training events: hyperparameters when training
    starts, per-task scores on every evaluation or prediction, run length and examples seen at the end."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def _record(self, state: Any, metrics: Mapping[str, Any] | None, in_training: bool) -> None:
        tasks = self.trainer.accelerator.unwrap_model(self.trainer.model).config.tasks
        self.trainer.model_card_data.record_metrics(metrics or {}, tasks, state.global_step, state.epoch, in_training)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.model_card_data.hyperparameters = training_hyperparameters(self.trainer)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        self._record(state, metrics, in_training=self.trainer.is_in_train)

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                   **kwargs: Any) -> None:
        self._record(state, metrics, in_training=False)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:
        if logs and "train_runtime" in logs:
            self.trainer.model_card_data.train_info.update(
                global_step=state.global_step, epoch=state.epoch, train_runtime=float(logs["train_runtime"])
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.model_card_data.examples_seen = dict(getattr(self.trainer, "examples_seen", {}) or {})


class ModelCardMixin:
    """The model card side of ``MultiTaskTrainer`` (put it before ``Trainer`` in the bases).

    Adds the ``model_card_data`` argument (a :class:`MultiTaskModelCardData`, also ``trainer.model_card_data``)
    and the :class:`ModelCardCallback`; ``save_model()`` and ``push_to_hub()`` write the hf_mtl card.
    """

    def __init__(self, *args: Any, model_card_data: MultiTaskModelCardData | None = None, **kwargs: Any) -> None:
        self.model_card_data = model_card_data if model_card_data is not None else MultiTaskModelCardData()
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), ModelCardCallback(self)]
        super().__init__(*args, **kwargs)

    def create_model_card(
        self,
        language: str | list[str] | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | Mapping[str, str] | None = None,
        dataset_args: str | list[str] | None = None,
        output_dir: str | None = None,
    ) -> Path | None:
        """Write the hf_mtl model card (README.md) into ``output_dir`` (default ``args.output_dir``).

        The arguments are [`Trainer.create_model_card`]'s; given ones update ``self.model_card_data``:
        ``finetuned_from`` is the base model, ``dataset`` (or ``dataset_tags``) a Hub dataset id for every task or
        ``{task: id}``, ``tasks`` extra tags. ``dataset_args`` is accepted and not used (configs come from the
        tasks' data sources). Returns the path written (None on processes other than the main one).
        """
        data = self.model_card_data
        given = {"language": language, "license": license, "model_name": model_name, "base_model": finetuned_from}
        for name, value in given.items():
            setattr(data, name, value if value is not None else getattr(data, name))
        for extra in (tags, tasks, getattr(self.model, "model_tags", None)):
            for tag in [extra] if isinstance(extra, str) else extra or []:
                if tag not in data.tags:
                    data.tags.append(tag)
        model = self.accelerator.unwrap_model(self.model)
        dataset = dataset if dataset is not None else dataset_tags
        if isinstance(dataset, (list, tuple)):
            if len(dataset) != 1:
                raise HfMtlError(f"dataset={dataset!r}: name one Hub dataset id, or pass {{task: id}} for the tasks "
                                 f"{list(model.config.tasks)}.")
            dataset = dataset[0]
        if isinstance(dataset, str):
            dataset = dict.fromkeys(model.config.tasks, dataset)
        data.datasets.update(dataset or {})
        if not self.is_world_process_zero():
            return None
        data.train_info["num_parameters"] = model.num_parameters()
        data.train_info["parameter_counts"] = parameter_counts(model)
        card = data.to_model_card(model, getattr(self, "task_metrics", {}))
        folder = output_dir if output_dir is not None else self.args.output_dir
        path = write_model_card(card, folder)
        save_card_data(data, folder)  # `hf-mtl evaluate` adds its scores to the card from it
        return path

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """[`Trainer.save_model`], and the model card beside the weights when called by the user (checkpoints,
        saved by the Trainer itself, get none)."""
        super().save_model(output_dir, _internal_call=_internal_call)
        if not _internal_call:
            self.create_model_card(output_dir=output_dir)

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        include_training_files: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Save the model and its hf_mtl card to ``args.output_dir`` and upload the folder to ``hub_model_id``.

        As [`Trainer.push_to_hub`], except that the card is hf_mtl's (``kwargs`` go to :meth:`create_model_card`)
        and that ``runs/`` (TensorBoard logs) and ``training_args.bin`` (a pickle) stay local unless
        ``include_training_files=True``; checkpoint folders and pickles (``*.pt``, ``*.pkl``) are never uploaded.
        """
        from huggingface_hub import HfApi

        from ..export.hub import ignore_patterns

        # Trainer.push_to_hub hard-codes its upload's ignore_patterns (it would upload runs/ and
        # training_args.bin), so its steps are followed here with hf_mtl's patterns.
        self.callback_handler.on_push_begin(self.args, self.state, self.control)
        token = token if token is not None else self.args.hub_token
        if self.hub_model_id is None:
            self.init_hf_repo(token=token, private=private)
        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        if self.model_card_data.model_id is None:
            self.model_card_data.model_id = self.hub_model_id
        self.create_model_card(**kwargs)
        self._finish_current_push()  # private, but the only way to wait for a checkpoint upload still running
        return HfApi().upload_folder(
            repo_id=self.hub_model_id, folder_path=self.args.output_dir, commit_message=commit_message, token=token,
            run_as_future=not blocking, ignore_patterns=ignore_patterns(include_training_files),
            revision=revision if revision is not None else self.args.hub_revision,
        )
