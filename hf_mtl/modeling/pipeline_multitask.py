"""The ``multitask`` pipeline: one encoder pass per batch serves every task head.

[`MultiTaskPipeline`] is a transformers `ChunkPipeline`: `preprocess` cuts each input into windows, `_forward` runs
the encoder and every head once per batch of windows, `postprocess` joins an input's windows into one dict keyed by
task name. Following that contract, transformers' own options work as in its pipelines: `batch_size`,
`num_workers`, `device`, a `KeyDataset` or a generator as input (streamed), `truncation`.

Output per task kind (:func:`~hf_mtl.modeling.task_kinds.output_kind`, the test that also picks each task's metric):

- entity tasks (token tasks with IOB1/IOB2/IOBES/BILOU labels, ``B-PER`` or ``B_PER``): entity spans
  ``{"entity_group", "score", "word", "start", "end"}`` grouped at the word level, like transformers'
  token-classification pipeline with ``aggregation_strategy="first"``; an entity's score is its words' mean;
- other token tasks (POS): one ``{"word", "tag", "score", "start", "end"}`` per word;
- lemmatization: one ``{"word", "lemma", "score", "start", "end"}`` per word (the predicted edit rule applied);
- dependency parsing: one ``{"word", "head", "deprel", "start", "end"}`` per word, ``head`` the 1-based index of
  the head word (0: the root), a well-formed tree per window;
- single-label text tasks: ``{"label", "score"}`` (a list of ``top_k`` of them with ``top_k=``); multi-label:
  ``[{"label", "score"}, ...]`` for the labels scoring >= ``threshold``; regression: ``{"value": float}``.

A task trained on sentence pairs (``text_pair: true`` in its config) takes ``{"text": ..., "text_pair": ...}``; tasks
that need another input than the one given are left out of its result and named under ``"_skipped"``
(``pipeline_inputs``). A word's tag is the prediction on its **first sub-word**, as the model is trained.
``start``/``end`` index the input string (``" ".join(words)`` for pre-split words), so ``text[start:end] == word``.

Copied next to saved weights (``config.json`` names it in ``custom_pipelines``), so ``pipeline("multitask",
model=folder, trust_remote_code=True)`` works without hf_mtl: imports torch, transformers and, relatively,
``errors``, ``task_kinds``, ``pipeline_inputs``, ``pipeline_backends``, ``pipeline_outputs`` (what the logits become:
each window's reads, each task's result) and ``word_windows`` only.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset
from transformers.pipelines.base import ChunkPipeline

from .errors import HfMtlError, TaskError
from .pipeline_backends import PipelineBackend, TorchBackend
from .pipeline_inputs import (
    SKIPPED_KEY,
    PipelineInputError,
    check_input,
    encode_pair,
    encode_windows,
    fitting_tasks,
    resolve_word_splitting,
    token_counts,
)
from .pipeline_outputs import Window, read_logits, text_result, warn_if_truncated, word_results
from .task_kinds import (
    ENTITIES,
    WHITESPACE_SPLITTING,
    WORD_OUTPUTS,
    WORD_SPLITTINGS,
    detect_label_scheme,
    output_kind,
    task_kind,
)
from .word_windows import plan_reads, whitespace_word_ids, whitespace_words, window_limit, word_spans

PIPELINE_TASK = "multitask"
DEFAULT_BATCH_SIZE = 32
# `truncation` values, as the tokenizers spell them (a pair is cut `longest_first`, as in training)
_TRUNCATE = (True, "longest_first", "only_first")
_DO_NOT_TRUNCATE = (False, "do_not_truncate")


@dataclass
class _Numbered:
    """An input and its position in the call (error messages and warnings name it)."""

    index: int
    item: Any


def _fast_tokenizer_hint(tokenizer: Any) -> str:
    """How to get a fast tokenizer: ``use_fast=True`` where transformers has one for the family (XLM has none).

    A slow tokenizer whose class is the one transformers registers for a family (``XLMTokenizer``) is that family's
    only tokenizer: asking for ``use_fast=True`` would give the same.
    """
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES

    name = type(tokenizer).__name__
    registered = {value for entry in TOKENIZER_MAPPING_NAMES.values()
                  for value in (entry if isinstance(entry, (tuple, list)) else (entry,)) if value}
    if name in registered:
        return (f"transformers has no fast version of {name}, so this pipeline cannot read words from it; serve the "
                "model with your own word alignment, or train on an encoder with a fast tokenizer.")
    return "load it with AutoTokenizer.from_pretrained(..., use_fast=True)."


class MultiTaskPipeline(ChunkPipeline):
    r"""Predict every task of a [`MultiTaskModel`] with one encoder pass per batch.

    Args:
        model ([`MultiTaskModel`] or [`PipelineBackend`]): the multi-task model (put in eval mode), or an exported
            graph behind the same pre/post-processing (`hf_mtl.export.onnx_runtime.OnnxMultiTaskModel`: onnxruntime).
        torch_compile (`bool`, *optional*, defaults to `False`): run the encoder and every head as one
            `torch.compile`d function with dynamic shapes (compiled on the first batches, not per task).
        tokenizer (`PreTrainedTokenizerFast`): a *fast* tokenizer (word ids and character offsets are needed).
        tasks (`str` or `list[str]`, *optional*): the tasks to predict (default: all the model's tasks).
        batch_size (`int`, *optional*, defaults to 32): windows per encoder pass. A list input is sorted by length
            internally (less padding); results come back in input order. Datasets and generators are read in order.
        num_workers (`int`, *optional*): as in transformers' pipelines (tokenization in a DataLoader worker).
        top_k (`int`, *optional*): single-label text tasks return a list of the `top_k` best labels instead of one
            dict; multi-label text tasks keep at most `top_k` labels.
        threshold (`float`, *optional*, defaults to 0.5): multi-label text tasks return labels scoring >= it.
        stride (`int`, *optional*): split inputs longer than `max_length` into windows overlapping by `stride`
            tokens, so token tasks tag every word (each word is read from the window where it is most central).
            Text tasks always read the first window.
        truncation (`bool`, *optional*): what to do with an input longer than `max_length` when no `stride` is
            given. Default: cut it, with a warning naming it (words after the cut get no tag); `True`: cut it
            silently; `False`: raise an error.
        max_length (`int`, *optional*): tokens per window (default: the tokenizer's and encoder's limit).
        is_split_into_words (`bool`, *optional*, defaults to `False`): a `list[str]` input is one pre-split
            sentence rather than a list of texts. (A list of lists is always read as pre-split sentences.)
        word_splitting (`str`, *optional*): how raw text is cut into the words of token tasks: `"whitespace"`
            (`@sarah_k` and `don't` stay one word) or `"tokenizer"` (the tokenizer's pre-tokenizer, also at
            punctuation). Default: what the token tasks' configs record (read from their training words; models
            that record none: `"tokenizer"`). Character offsets index the input either way.
        allow_single_text (`bool`, *optional*, defaults to `False`): let tasks trained on text pairs read a single
            text alone (by default they are skipped for it, or it is an error when no other task is asked).

    Sentence pairs are given as transformers' text-classification pipeline takes them: `{"text": ...,
    "text_pair": ...}` or a list of such dicts, encoded as in training (`tokenizer(text, text_pair,
    truncation=True)`: longest first). A pair serves the tasks whose config says `text_pair: true`; a single text
    serves the others. When the tasks asked need different inputs, each input runs the tasks it fits, and its
    result names the others under `"_skipped"`: `{task: reason}` (a key no task can have).

    Empty or whitespace-only inputs (and inputs of only characters the tokenizer drops, such as control
    characters) give `[]` for token tasks and `None` for text tasks.

    Example:
        ```python
        >>> from transformers import pipeline
        >>> import hf_mtl  # registers the "multitask" pipeline (without hf_mtl: trust_remote_code=True)
        >>> nlp = pipeline("multitask", model="path/to/multitask-model")
        >>> nlp("Ada Lovelace lived in London.")
        {'ner': [{'entity_group': 'PER', 'score': 0.99, 'word': 'Ada Lovelace', 'start': 0, 'end': 12},
                 {'entity_group': 'LOC', 'score': 0.98, 'word': 'London', 'start': 22, 'end': 28}],
         'sentiment': {'label': 'positive', 'score': 0.91}}
        >>> nlp(["First text.", "Second text."], tasks=["sentiment"], batch_size=64)  # [{'sentiment': ...}, ...]
        >>> nlp({"text": "A man is playing a guitar.", "text_pair": "A man plays music."}, tasks=["nli"])
        {'nli': {'label': 'entailment', 'score': 0.93}}
        >>> for result in nlp(KeyDataset(dataset, "text")):  # streamed
        ...     ...
        ```
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(self, model: Any, tokenizer: Any = None, torch_compile: bool = False, **kwargs: Any) -> None:
        if not (hasattr(model, "forward_all_tasks") and isinstance(getattr(model.config, "tasks", None), dict)):
            raise TaskError(
                f"MultiTaskPipeline needs a MultiTaskModel (with forward_all_tasks), got {type(model).__name__}; "
                "use transformers' own pipelines for single-task models."
            )
        if isinstance(model, PipelineBackend):  # an exported graph (e.g. onnxruntime) is its own backend
            if torch_compile:
                raise HfMtlError(f"torch_compile=True compiles a PyTorch model; {type(model).__name__} is not one.")
            self.backend: PipelineBackend = model
        else:
            self.backend = TorchBackend(model, torch_compile=bool(torch_compile))
        if tokenizer is None:
            raise HfMtlError("MultiTaskPipeline needs a tokenizer: pass tokenizer=AutoTokenizer.from_pretrained(...).")
        if not getattr(tokenizer, "is_fast", False):
            raise HfMtlError(f"MultiTaskPipeline needs a fast tokenizer (word ids and character offsets), got "
                             f"{type(tokenizer).__name__}; {_fast_tokenizer_hint(tokenizer)}")
        kwargs.setdefault("task", PIPELINE_TASK)
        if kwargs.get("batch_size") is None:
            kwargs["batch_size"] = DEFAULT_BATCH_SIZE
        tasks = model.config.tasks
        # masked-lm tasks train the encoder for the others: no output of their own. Set before the base class's
        # __init__, which checks the call's parameters (and so the tasks) already.
        self.default_tasks = [name for name, task in tasks.items() if not task_kind(task["type"]).auxiliary]
        if not self.default_tasks:
            raise TaskError(f"This model's tasks {list(tasks)} only train the encoder (masked-lm): the multitask "
                            "pipeline has nothing to predict.")
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.model.eval()
        self.output_kinds = {name: output_kind(task) for name, task in tasks.items()}
        entity_tasks = [name for name, kind in self.output_kinds.items() if kind == ENTITIES]
        self.label_schemes = {name: detect_label_scheme(tasks[name]["id2label"].values()) for name in entity_tasks}

    # ------------------------------------------------------------------ parameters
    def _sanitize_parameters(
        self,
        tasks: str | Sequence[str] | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        stride: int | None = None,
        max_length: int | None = None,
        is_split_into_words: bool | None = None,
        truncation: bool | str | None = None,
        word_splitting: str | None = None,
        allow_single_text: bool | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess: dict[str, Any] = {}
        forward: dict[str, Any] = {}
        postprocess: dict[str, Any] = {}
        if stride is not None:
            if int(stride) < 0:
                raise HfMtlError(f"stride must be >= 0 (tokens shared by consecutive windows), got {stride}.")
            preprocess["stride"] = int(stride)
        if max_length is not None:
            preprocess["max_length"] = self._max_length(int(max_length))
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = bool(is_split_into_words)
        if truncation is not None:
            if truncation not in _TRUNCATE + _DO_NOT_TRUNCATE:
                raise HfMtlError(f"truncation must be True or False (or a tokenizer strategy name), got {truncation!r}.")
            preprocess["truncation"] = truncation in _TRUNCATE
        if word_splitting is not None:
            if word_splitting not in WORD_SPLITTINGS:
                raise HfMtlError(f"word_splitting must be one of {', '.join(WORD_SPLITTINGS)}, not {word_splitting!r}.")
            preprocess["word_splitting"] = word_splitting
        if allow_single_text is not None:
            preprocess["allow_single_text"] = bool(allow_single_text)
        if tasks is not None:
            forward["tasks"] = preprocess["tasks"] = self._check_tasks(tasks)
        if top_k is not None:
            if int(top_k) < 1:
                raise HfMtlError(f"top_k must be >= 1, got {top_k}.")
            postprocess["top_k"] = int(top_k)
        if threshold is not None:
            postprocess["threshold"] = float(threshold)
        return preprocess, forward, postprocess

    def _check_tasks(self, tasks: str | Sequence[str]) -> list[str]:
        names = self.model.task_names
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        if not tasks:
            raise TaskError(f"tasks is empty: pick one or more of the model's tasks {names}.")
        unknown = [task for task in tasks if task not in self.model.config.tasks]
        if unknown:
            raise TaskError(f"Unknown task(s) {unknown}: this model has tasks {names}.")
        auxiliary = [task for task in tasks if task not in self.default_tasks]
        if auxiliary:
            raise TaskError(f"Task(s) {auxiliary} ({self.model.config.tasks[auxiliary[0]]['type']}) train the encoder "
                            f"and have no pipeline output; predict {self.default_tasks} (or use the head's logits: "
                            "model(**inputs, task=...)).")
        return list(dict.fromkeys(tasks))

    def _max_length(self, requested: int | None = None) -> int:
        model_limit = window_limit(self.model.config.encoder, getattr(self.tokenizer, "model_max_length", None))
        if requested is not None and requested > model_limit:
            raise HfMtlError(f"max_length={requested} is more than the model accepts ({model_limit} tokens).")
        return model_limit if requested is None else requested

    # ------------------------------------------------------------------ inputs
    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Predict the selected tasks; see the class docstring for the options and output format.

        Returns one dict `{task: result}` for one input, a list of them (in input order) for a list, and an
        iterator of them for a dataset or a generator.
        """
        split = kwargs.get("is_split_into_words")
        if split is None:
            split = self._preprocess_params.get("is_split_into_words", False)
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list):
            if not inputs:
                return []
            if split and all(isinstance(item, str) for item in inputs):  # one pre-split sentence
                return super().__call__([inputs], **kwargs)[0]
        elif not isinstance(inputs, (str, Mapping, types.GeneratorType, TorchDataset)):
            if isinstance(inputs, bytes) or not isinstance(inputs, Iterable):
                raise PipelineInputError(
                    f"Input of type {type(inputs).__name__} is not supported: pass a string, a list of strings, "
                    "pre-split words (a list of strings with is_split_into_words=True, or a list of such lists), "
                    "a text pair {'text': ..., 'text_pair': ...} (or a list of them), a KeyDataset or a generator."
                )
            # other iterables: a sized one (numpy array, pandas Series) is a list, an iterator is a stream
            inputs = list(inputs) if isinstance(inputs, Sized) else (item for item in inputs)
        return super().__call__(inputs, **kwargs)

    def predict(self, inputs: Any, **kwargs: Any) -> Any:
        """The same as calling the pipeline (scikit-learn's name for it, which transformers' pipelines offer)."""
        return self(inputs, **kwargs)

    def get_iterator(
        self,
        inputs: Any,
        num_workers: int,
        batch_size: int,
        preprocess_params: dict[str, Any],
        forward_params: dict[str, Any],
        postprocess_params: dict[str, Any],
    ) -> Iterator[Any]:
        """transformers' iterator over numbered inputs; a list is run sorted by length, its results put back in order."""
        params = (num_workers, batch_size, preprocess_params, forward_params, postprocess_params)
        if not isinstance(inputs, list):  # a dataset or a generator: streamed in order
            return super().get_iterator((_Numbered(i, item) for i, item in enumerate(inputs)), *params)
        numbered = [_Numbered(i, item) for i, item in enumerate(inputs)]
        if batch_size > 1 and len(numbered) > 1:  # similar lengths share a batch: fewer pad tokens
            lengths = token_counts(self.tokenizer, inputs, self._max_length())
            numbered.sort(key=lambda entry: lengths[entry.index])
        results: list[Any] = [None] * len(numbered)
        for entry, result in zip(numbered, super().get_iterator(numbered, *params), strict=True):
            results[entry.index] = result
        return iter(results)

    # ------------------------------------------------------------------ preprocess
    def preprocess(
        self,
        input_: Any,
        stride: int | None = None,
        max_length: int | None = None,
        is_split_into_words: bool = False,
        truncation: bool | None = None,
        tasks: list[str] | None = None,
        word_splitting: str | None = None,
        allow_single_text: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Tokenize one input into windows; yield each window's tensors and what it reads (`is_last` on the last).

        A string is raw text, a list of strings pre-split words (`is_split_into_words` is settled by `__call__`), a
        `{"text", "text_pair"}` mapping a sentence pair (one window, cut longest first as in training). The tasks the
        input does not fit are named in its sample's `skipped` (see `pipeline_inputs.fitting_tasks`).
        """
        index, item = (input_.index, input_.item) if isinstance(input_, _Numbered) else (None, input_)
        given = check_input(index, item)
        configs = self.model.config.tasks
        run, skipped = fitting_tasks(tasks or self.model.task_names, configs, given, allow_single_text,
                                     "Input" if index is None else f"Input {index}")
        limit = self._max_length(max_length)
        sample, windows = (encode_pair(self.tokenizer, index, given, limit, truncation) if given.is_pair
                           else encode_windows(self.tokenizer, index, given.text, stride, limit, truncation))
        sample.skipped = skipped
        word_ids = [window.word_ids for window in windows]
        offsets = [window.offsets for window in windows]
        raw_text = isinstance(given.text, str) and not given.is_pair
        if raw_text and resolve_word_splitting(run, configs, word_splitting) == WHITESPACE_SPLITTING:
            sample.word_spans = whitespace_words(sample.text)  # the words: what lies between whitespace
            word_ids = [whitespace_word_ids(sample.text, ids, offs, sample.word_spans)
                        for ids, offs in zip(word_ids, offsets, strict=True)]
        elif raw_text:  # over every window: a word cut by the last one still gets its whole span
            sample.word_spans = word_spans(word_ids, offsets, sample.text)
        used = len(windows) if stride is not None else 1
        if given.is_pair:  # no words to read (token tasks take one text): empty when neither text gives a token
            reads = [([], [])]
            sample.empty = not any(word is not None for word in word_ids[0])
        else:
            reads = plan_reads(word_ids[:used], offsets[:used], raw_text)
            sample.empty = sample.empty or not any(positions for positions, _ in reads)  # characters the tokenizer drops
        with_types = "token_type_ids" in self.tokenizer.model_input_names
        for number, (window, (positions, words)) in enumerate(zip(windows[:used], reads, strict=True)):
            model_inputs = {"input_ids": torch.tensor([window.ids]), "attention_mask": torch.tensor([window.attention_mask])}
            if with_types:
                model_inputs["token_type_ids"] = torch.tensor([window.type_ids])
            model_inputs["window"] = Window(sample, number == 0, len(window.ids), positions, words)
            model_inputs["is_last"] = number == used - 1
            yield model_inputs

    # ------------------------------------------------------------------ forward
    def get_inference_context(self) -> Any:
        return torch.inference_mode

    def _forward(self, model_inputs: dict[str, Any], tasks: list[str] | None = None) -> dict[str, Any]:
        """One encoder pass and every head for a batch of windows; keeps only what `postprocess` reads.

        Token tasks keep each read word's best label and its probability; text tasks keep, on an input's first
        window, the probability of every label (softmax, sigmoid for multi-label, the raw value for regression),
        so `top_k` and `threshold` are applied in `postprocess` without running the model again.
        """
        windows, is_last = model_inputs.pop("window"), model_inputs.pop("is_last")
        unbatched = isinstance(windows, Window)  # batch_size=1: transformers does not collate
        if unbatched:
            windows = [windows]
        length = model_inputs["input_ids"].shape[1]
        if self.tokenizer.padding_side == "left" and not unbatched:
            # transformers pads on the tokenizer's side; absolute position embeddings count from the first token,
            # so move each row's padding back to the right (outputs must not depend on the batch)
            shift = torch.tensor([length - window.length for window in windows], device=model_inputs["input_ids"].device)
            index = (torch.arange(length, device=shift.device) + shift[:, None]) % length
            model_inputs = {key: value.gather(1, index) for key, value in model_inputs.items()}
        logits = self.backend.logits(model_inputs, tasks or self.default_tasks)
        reads = read_logits(windows, logits, self.output_kinds, self.backend.decode)
        if unbatched:
            return {"window": windows[0], "read": reads[0], "is_last": is_last}
        return {"window": windows, "read": reads, "is_last": is_last}

    # ------------------------------------------------------------------ postprocess
    def postprocess(
        self, all_outputs: list[dict[str, Any]], top_k: int | None = None, threshold: float | None = None
    ) -> dict[str, Any]:
        """Join one input's windows into `{task: result}` (see the module docstring for each output kind)."""
        windows = [output["window"] for output in all_outputs]
        reads = [output["read"] for output in all_outputs]
        sample = windows[0].sample
        warn_if_truncated(sample)
        result: dict[str, Any] = {}
        for task, values in reads[0].values.items():  # the first window reads every task, in the order asked
            if task in sample.skipped:  # the input lacks what the task reads (a pair, or one text)
                continue
            kind = self.output_kinds[task]
            id2label = self.model.config.tasks[task]["id2label"]
            if kind in WORD_OUTPUTS:
                result[task] = [] if sample.empty else word_results(task, kind, sample, windows, reads, id2label,
                                                                     self.label_schemes.get(task))
            elif sample.empty:
                result[task] = None
            else:
                result[task] = text_result(kind, values, id2label, top_k, threshold)
        if sample.skipped:
            result[SKIPPED_KEY] = dict(sample.skipped)
        return result


__all__ = ["DEFAULT_BATCH_SIZE", "PIPELINE_TASK", "SKIPPED_KEY", "MultiTaskPipeline", "PipelineInputError"]
