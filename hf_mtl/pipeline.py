"""Inference for multi-task models: one encoder pass per batch serves every task head.

[`MultiTaskPipeline`] is a `transformers.Pipeline`: after [`register_pipeline`] (hf_mtl calls it on import),
`pipeline("multitask", model=folder)` builds one. It returns one dict per input, keyed by task name:

- entity tasks (token tasks whose labels are IOB/IOBES, e.g. `B-PER`, `I-PER`, `O`): grouped entity spans
  `{"entity_group", "score", "word", "start", "end"}`, like transformers' token-classification pipeline with
  `aggregation_strategy="simple"`, but grouped at the word level;
- other token tasks (POS, chunking): one `{"word", "tag", "score", "start", "end"}` per word;
- single-label text tasks: `{"label", "score"}` (a list of `top_k` of them with `top_k=`);
- multi-label text tasks: `[{"label", "score"}, ...]` for every label whose sigmoid score is >= `threshold`;
- regression: `{"value": float}`.

Word-level choice: a word's tag (and its probability) is the prediction on the word's **first sub-word**, as the
model is trained (labels sit on the first sub-word, -100 elsewhere); transformers calls this
`aggregation_strategy="first"`. An entity's score is the mean of its words' probabilities. `start`/`end` are
character offsets into the input string (into `" ".join(words)` for pre-split words), so
`text[start:end] == word` always holds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers.pipelines import PIPELINE_REGISTRY, Pipeline

from .configuration_multitask import TOKEN_CLASSIFICATION
from .errors import HfMtlError, TaskError
from .modeling_multitask import MultiTaskModel

logger = logging.getLogger(__name__)

PIPELINE_TASK = "multitask"
DEFAULT_BATCH_SIZE = 32
DEFAULT_THRESHOLD = 0.5
# Families whose position ids start after the padding index: two positions fewer than max_position_embeddings.
_OFFSET_POSITION_MODEL_TYPES = ("roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text", "xlm-roberta-xl")
_ENTITY_LABEL = re.compile(r"^([BIES])[-_](.+)$")

# Output kinds, one per task.
ENTITIES = "entities"
WORD_TAGS = "word_tags"
SINGLE_LABEL = "single_label"
MULTI_LABEL = "multi_label"
REGRESSION = "regression"


class PipelineInputError(HfMtlError, TypeError):
    """An input of the pipeline is not a string (or, pre-split, not a list of strings).

    It is both a `TypeError` and an [`HfMtlError`] (a `ValueError`), so either `except` catches it.
    """


def is_entity_labels(labels: Iterable[str]) -> bool:
    """True when labels look like an IOB/IOBES entity scheme: each is `O` or `B-`/`I-`/`E-`/`S-` + a type.

    Example:
        >>> is_entity_labels(["O", "B-PER", "I-PER"])
        True
        >>> is_entity_labels(["NOUN", "VERB", "PUNCT"])
        False
    """
    labels = list(labels)
    prefixed = [label for label in labels if _ENTITY_LABEL.match(label)]
    return bool(prefixed) and all(label == "O" or _ENTITY_LABEL.match(label) for label in labels)


def task_output_kind(task: dict[str, Any]) -> str:
    """The output kind of one (normalized) task entry of a `MultiTaskConfig`.

    Example:
        >>> task_output_kind({"type": "text-classification", "problem_type": "regression", "id2label": {0: "value"}})
        'regression'
    """
    if task["type"] == TOKEN_CLASSIFICATION:
        return ENTITIES if is_entity_labels(task["id2label"].values()) else WORD_TAGS
    problem_type = task.get("problem_type") or "single_label_classification"
    if problem_type == "multi_label_classification":
        return MULTI_LABEL
    if problem_type == "regression":
        return REGRESSION
    return SINGLE_LABEL


def _split_tag(label: str) -> tuple[str, str]:
    """`("B", "PER")` for `B-PER`; labels without a prefix (`O`) continue like `I-` (as transformers does)."""
    match = _ENTITY_LABEL.match(label)
    if match is None:
        return "I", label
    return match.group(1), match.group(2)


def group_entities(words: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Group word predictions `{"tag", "score", "start", "end"}` (in word order) into entity spans.

    A new entity starts at a `B-`/`S-` word, at a change of type, or after an `E-`/`S-` word; `O` words end
    entities and are dropped. The entity's score is the mean of its words' scores; `word` is the text between the
    first word's start and the last word's end.

    Example:
        >>> text = "Ada Lovelace lived in London"
        >>> words = [{"tag": t, "score": 1.0, "start": s, "end": e} for t, s, e in
        ...          [("B-PER", 0, 3), ("I-PER", 4, 12), ("O", 13, 18), ("O", 19, 21), ("B-LOC", 22, 28)]]
        >>> [(e["entity_group"], e["word"]) for e in group_entities(words, text)]
        [('PER', 'Ada Lovelace'), ('LOC', 'London')]
    """
    entities: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []
    group_type: str | None = None
    group_closed = True

    def close() -> None:
        if group and group_type != "O":
            start, end = group[0]["start"], group[-1]["end"]
            entities.append(
                {
                    "entity_group": group_type,
                    "score": float(sum(word["score"] for word in group) / len(group)),
                    "word": text[start:end],
                    "start": start,
                    "end": end,
                }
            )

    for word in words:
        prefix, entity_type = _split_tag(word["tag"])
        continues = bool(group) and not group_closed and entity_type == group_type and prefix in ("I", "E")
        if not continues:
            close()
            group, group_type = [], entity_type
        group.append(word)
        group_closed = prefix in ("E", "S")
    close()
    return entities


@dataclass
class _Sample:
    """One input: its text, the character span of each word, and where each word's prediction is read."""

    index: int
    text: str
    empty: bool = False
    truncated: bool = False
    rows: list[int] = field(default_factory=list)
    word_spans: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class _Row:
    """One encoder sequence (a whole input, or one window of a long one)."""

    sample: int
    first: bool  # the input's first window: text tasks read it
    input_ids: list[int]
    token_type_ids: list[int] | None
    positions: list[int]  # token positions read for token tasks (a word's first sub-word)
    words: list[int]  # the word index of each position


def _content_bounds(word_ids: Sequence[int | None]) -> tuple[int, int]:
    lo = next((p for p, w in enumerate(word_ids) if w is not None), 0)
    hi = next((p for p in range(len(word_ids) - 1, -1, -1) if word_ids[p] is not None), len(word_ids) - 1)
    return lo, hi


class MultiTaskPipeline(Pipeline):
    r"""Predict every task of a [`MultiTaskModel`] with one encoder pass per batch.

    Args:
        model ([`MultiTaskModel`]): the multi-task model (put in eval mode).
        tokenizer (`PreTrainedTokenizerFast`): a *fast* tokenizer (word ids and character offsets are needed).
        tasks (`str` or `list[str]`, *optional*): the tasks to predict (default: all the model's tasks).
        batch_size (`int`, *optional*, defaults to 32): sequences per encoder pass. Inputs are sorted by length
            internally (less padding); results come back in input order.
        top_k (`int`, *optional*): single-label text tasks return a list of the `top_k` best labels instead of one
            dict; multi-label text tasks keep at most `top_k` labels.
        threshold (`float`, *optional*, defaults to 0.5): multi-label text tasks return labels scoring >= it.
        stride (`int`, *optional*): split inputs longer than `max_length` into windows overlapping by `stride`
            tokens, so token tasks tag every word (each word is read from the window where it is most central).
            Without it, long inputs are truncated (with a warning naming them) and words after the cut get no tag.
            Text tasks always read the first window.
        max_length (`int`, *optional*): tokens per sequence (default: the tokenizer's and encoder's limit).
        is_split_into_words (`bool`, *optional*, defaults to `False`): a `list[str]` input is one pre-split
            sentence rather than a list of texts. (A list of lists is always read as pre-split sentences.)

    Empty or whitespace-only inputs (and inputs of only characters the tokenizer drops, such as control
    characters) give `[]` for token tasks and `None` for text tasks.

    Example:
        ```python
        >>> from transformers import pipeline
        >>> import hf_mtl  # registers the "multitask" pipeline
        >>> nlp = pipeline("multitask", model="path/to/multitask-model")
        >>> nlp("Ada Lovelace lived in London.")
        {'ner': [{'entity_group': 'PER', 'score': 0.99, 'word': 'Ada Lovelace', 'start': 0, 'end': 12},
                 {'entity_group': 'LOC', 'score': 0.98, 'word': 'London', 'start': 22, 'end': 28}],
         'sentiment': {'label': 'positive', 'score': 0.91}}
        >>> nlp(["First text.", "Second text."], tasks=["sentiment"], batch_size=64)
        [{'sentiment': {...}}, {'sentiment': {...}}]
        ```
    """

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(self, model: MultiTaskModel, tokenizer: Any = None, **kwargs: Any) -> None:
        if not (hasattr(model, "forward_all_tasks") and isinstance(getattr(model.config, "tasks", None), dict)):
            raise TaskError(
                f"MultiTaskPipeline needs a MultiTaskModel (with forward_all_tasks), got {type(model).__name__}; "
                "use transformers' own pipelines for single-task models."
            )
        if tokenizer is None:
            raise HfMtlError("MultiTaskPipeline needs a tokenizer: pass tokenizer=AutoTokenizer.from_pretrained(...).")
        if not getattr(tokenizer, "is_fast", False):
            raise HfMtlError(
                f"MultiTaskPipeline needs a fast tokenizer (word ids and character offsets), got "
                f"{type(tokenizer).__name__}; load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
            )
        kwargs.setdefault("task", PIPELINE_TASK)
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.model.eval()
        self.output_kinds = {name: task_output_kind(task) for name, task in self.model.config.tasks.items()}

    # ------------------------------------------------------------------ parameters
    def _sanitize_parameters(
        self,
        tasks: str | Sequence[str] | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        stride: int | None = None,
        max_length: int | None = None,
        is_split_into_words: bool | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        preprocess: dict[str, Any] = {}
        forward: dict[str, Any] = {}
        postprocess: dict[str, Any] = {}
        if stride is not None:
            if int(stride) < 0:
                raise HfMtlError(f"stride must be >= 0 (tokens shared by consecutive windows), got {stride}.")
            preprocess["stride"] = int(stride)
        if max_length is not None:
            preprocess["max_length"] = int(max_length)
        if is_split_into_words is not None:
            preprocess["is_split_into_words"] = bool(is_split_into_words)
        if tasks is not None:
            forward["tasks"] = self._check_tasks(tasks)
        if top_k is not None:
            if int(top_k) < 1:
                raise HfMtlError(f"top_k must be >= 1, got {top_k}.")
            postprocess["top_k"] = int(top_k)
        if threshold is not None:
            postprocess["threshold"] = float(threshold)
        return preprocess, forward, postprocess

    def _check_tasks(self, tasks: str | Sequence[str] | None) -> list[str]:
        names = self.model.task_names
        if tasks is None:
            return names
        if isinstance(tasks, str):
            tasks = [tasks]
        tasks = list(tasks)
        if not tasks:
            raise TaskError(f"tasks is empty: pick one or more of the model's tasks {names}.")
        unknown = [task for task in tasks if task not in self.model.config.tasks]
        if unknown:
            raise TaskError(f"Unknown task(s) {unknown}: this model has tasks {names}.")
        return list(dict.fromkeys(tasks))

    def _max_length(self, requested: int | None = None) -> int:
        encoder_config = self.model.config.encoder
        limits = []
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if tokenizer_limit and tokenizer_limit < 1_000_000:
            limits.append(int(tokenizer_limit))
        max_positions = getattr(encoder_config, "max_position_embeddings", None)
        if max_positions and getattr(encoder_config, "position_embedding_type", "absolute") == "absolute":
            if encoder_config.model_type in _OFFSET_POSITION_MODEL_TYPES:
                max_positions -= 2
            limits.append(int(max_positions))
        model_limit = min(limits) if limits else 512
        if requested is None:
            return model_limit
        if requested > model_limit:
            raise HfMtlError(f"max_length={requested} is more than the model accepts ({model_limit} tokens).")
        return requested

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _normalize_inputs(inputs: Any, is_split_into_words: bool) -> tuple[list[str | list[str]], bool]:
        """Return (items, single): each item a text or a list of words; `single` when one input was given."""
        if isinstance(inputs, str):
            return [inputs], True
        if isinstance(inputs, (bytes, dict)) or not isinstance(inputs, Iterable):
            raise PipelineInputError(
                f"Input of type {type(inputs).__name__} is not supported: pass a string, a list of strings, or "
                "pre-split words (a list of strings with is_split_into_words=True, or a list of such lists)."
            )
        items = list(inputs)
        if is_split_into_words and all(isinstance(item, str) for item in items):
            return [items], True
        return items, False

    @staticmethod
    def _check_item(index: int, item: Any) -> str | list[str]:
        if isinstance(item, str):
            return item
        if isinstance(item, (list, tuple)):
            for position, word in enumerate(item):
                if not isinstance(word, str):
                    raise PipelineInputError(
                        f"Input {index}: pre-split word {position} is a {type(word).__name__} ({word!r}); "
                        "every word must be a string."
                    )
            return list(item)
        raise PipelineInputError(
            f"Input {index} is a {type(item).__name__} ({item!r:.60}); expected a string (or a list of words)."
        )

    # ------------------------------------------------------------------ tokenization
    def _tokenize(
        self,
        items: list[str | list[str]],
        stride: int | None = None,
        max_length: int | None = None,
    ) -> tuple[list[_Sample], list[_Row]]:
        """Tokenize every input into windows, find the words and where each word's prediction is read."""
        limit = self._max_length(max_length)
        windowed = stride is not None
        if windowed and stride >= limit - self.tokenizer.num_special_tokens_to_add():
            raise HfMtlError(
                f"stride={stride} must be smaller than the tokens a window holds "
                f"({limit - self.tokenizer.num_special_tokens_to_add()}); e.g. stride={limit // 4}."
            )
        with_types = "token_type_ids" in self.tokenizer.model_input_names
        samples: list[_Sample] = []
        groups: dict[bool, list[int]] = {False: [], True: []}  # pre-split? -> sample indices
        for index, item in enumerate(items):
            item = self._check_item(index, item)
            if isinstance(item, str):
                sample = _Sample(index, item, empty=not item.strip())
                groups[False].append(index)
            else:
                sample = _Sample(index, " ".join(item), empty=not any(word.strip() for word in item))
                groups[True].append(index)
                start = 0
                for word_index, word in enumerate(item):
                    sample.word_spans[word_index] = (start, start + len(word))
                    start += len(word) + 1
            samples.append(sample)
        rows: list[_Row] = []
        truncated: list[int] = []
        for split, indices in groups.items():
            indices = [i for i in indices if not samples[i].empty]
            if not indices:
                continue
            batch = self.tokenizer(
                [items[i] for i in indices],
                is_split_into_words=split,
                truncation=True,
                max_length=limit,
                stride=stride or 0,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            windows_of: dict[int, list[Any]] = {}
            for encoding, position in zip(batch.encodings, batch["overflow_to_sample_mapping"], strict=True):
                windows_of.setdefault(indices[position], []).append(encoding)
            for sample_index, windows in windows_of.items():
                sample = samples[sample_index]
                if len(windows) > 1 and not windowed:
                    sample.truncated = True
                    truncated.append(sample.index)
                self._add_rows(sample, windows, rows, use_all_windows=windowed, raw_text=not split, types=with_types)
                if not any(rows[row].positions for row in sample.rows):  # only characters the tokenizer drops
                    sample.empty = True
        if truncated:
            shown = truncated[:20] + (["..."] if len(truncated) > 20 else [])
            logger.warning(
                "Input(s) %s are longer than %d tokens and were truncated: words after the cut get no tag. Pass "
                "stride=<tokens> (e.g. stride=%d) to tag every word with overlapping windows.",
                shown,
                limit,
                limit // 4,
            )
        return samples, rows

    @staticmethod
    def _add_rows(
        sample: _Sample, windows: list[Any], rows: list[_Row], use_all_windows: bool, raw_text: bool, types: bool
    ) -> None:
        """Append the sample's rows; each word is read at its first sub-word, in the window where it is most central."""
        if raw_text and len(windows) == 1:  # the common case, in one pass: each word's first token is its first
            window = windows[0]
            positions, words, spans = [], [], {}
            previous = None
            for position, (word, (start, end)) in enumerate(zip(window.word_ids, window.offsets, strict=True)):
                if word is None:
                    continue
                if word != previous:
                    positions.append(position)
                    words.append(word)
                    spans[word] = (start, end)
                    previous = word
                else:
                    spans[word] = (spans[word][0], end)
            sample.word_spans = spans
            sample.rows.append(len(rows))
            rows.append(
                _Row(sample.index, True, window.ids, window.type_ids if types else None, positions, words)
            )
            return
        word_ids = [window.word_ids for window in windows]
        offsets = [window.offsets for window in windows]
        if raw_text:  # word spans and first sub-word starts from the offsets, over every window (cut words too)
            spans: dict[int, list[int]] = {}
            for ids, offs in zip(word_ids, offsets, strict=True):
                for word, (start, end) in zip(ids, offs, strict=True):
                    if word is None:
                        continue
                    span = spans.get(word)
                    if span is None:
                        spans[word] = [start, end]
                    else:
                        if start < span[0]:
                            span[0] = start
                        if end > span[1]:
                            span[1] = end
            sample.word_spans = {word: (span[0], span[1]) for word, span in spans.items()}
            first_start = {word: span[0] for word, span in spans.items()}
        else:  # pre-split: offsets are relative to each word, the first sub-word starts at its smallest offset
            first_start = {}
            for ids, offs in zip(word_ids, offsets, strict=True):
                for word, (start, _) in zip(ids, offs, strict=True):
                    if word is not None and start < first_start.get(word, 1 << 30):
                        first_start[word] = start
        used = windows if use_all_windows else windows[:1]
        best: dict[int, tuple[int, int, int]] = {}  # word -> (centrality, window, position)
        for number in range(len(used)):
            ids, offs = word_ids[number], offsets[number]
            lo, hi = _content_bounds(ids)
            previous = None
            for position, word in enumerate(ids):
                if word is None or word == previous:
                    previous = word
                    continue
                previous = word
                if offs[position][0] != first_start[word]:  # a window that starts inside the word
                    continue
                centrality = min(position - lo, hi - position)
                if word not in best or centrality > best[word][0]:
                    best[word] = (centrality, number, position)
        reads: list[tuple[list[int], list[int]]] = [([], []) for _ in used]
        for word in sorted(best):
            _, number, position = best[word]
            reads[number][0].append(position)
            reads[number][1].append(word)
        for number, window in enumerate(used):
            sample.rows.append(len(rows))
            rows.append(
                _Row(
                    sample=sample.index,
                    first=number == 0,
                    input_ids=window.ids,
                    token_type_ids=window.type_ids if types else None,
                    positions=reads[number][0],
                    words=reads[number][1],
                )
            )

    # ------------------------------------------------------------------ model
    def _batches(self, rows: list[_Row], batch_size: int) -> Iterable[list[int]]:
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids))
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]

    def _run_batch(self, rows: list[_Row], batch: list[int], tasks: list[str]) -> dict[str, torch.Tensor]:
        length = max(len(rows[i].input_ids) for i in batch)
        pad_id = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(batch), length), pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(batch), length), dtype=np.int64)
        with_types = rows[batch[0]].token_type_ids is not None
        token_type_ids = np.zeros((len(batch), length), dtype=np.int64) if with_types else None
        for b, i in enumerate(batch):
            row = rows[i]
            n = len(row.input_ids)
            input_ids[b, :n] = row.input_ids
            attention_mask[b, :n] = 1
            if with_types:
                token_type_ids[b, :n] = row.token_type_ids
        inputs = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask)}
        if with_types:
            inputs["token_type_ids"] = torch.from_numpy(token_type_ids)
        inputs = self._ensure_tensor_on_device(inputs, device=self.device)
        return self.model.forward_all_tasks(**inputs, tasks=tasks)

    def _read_batch(
        self,
        rows: list[_Row],
        batch: list[int],
        logits: dict[str, torch.Tensor],
        token_reads: dict[str, dict[int, tuple[list[int], list[float]]]],
        text_results: dict[str, dict[int, Any]],
        top_k: int | None,
        threshold: float,
    ) -> None:
        """Turn one batch's logits into per-row word tags and per-sample text results (vectorized per task)."""
        device = next(iter(logits.values())).device
        batch_index = [b for b, i in enumerate(batch) for _ in rows[i].positions]
        batch_index = torch.tensor(batch_index, dtype=torch.long, device=device)
        positions = torch.tensor([p for i in batch for p in rows[i].positions], dtype=torch.long, device=device)
        first_rows = [b for b, i in enumerate(batch) if rows[i].first]
        for task, task_logits in logits.items():
            kind = self.output_kinds[task]
            id2label = self.model.config.tasks[task]["id2label"]
            if kind in (ENTITIES, WORD_TAGS):
                read = task_logits[batch_index, positions].float()  # (words in batch, num_labels)
                scores, ids = read.softmax(-1).max(-1)
                scores, ids = scores.tolist(), ids.tolist()
                start = 0
                for i in batch:
                    n = len(rows[i].positions)
                    token_reads[task][i] = (ids[start : start + n], scores[start : start + n])
                    start += n
                continue
            task_logits = task_logits[first_rows].float()
            samples = [rows[batch[b]].sample for b in first_rows]
            if kind == REGRESSION:
                for sample, value in zip(samples, task_logits[:, 0].tolist(), strict=True):
                    text_results[task][sample] = {"value": float(value)}
            elif kind == MULTI_LABEL:
                probs = task_logits.sigmoid()
                for sample, row in zip(samples, probs.tolist(), strict=True):
                    chosen = sorted(
                        ({"label": id2label[j], "score": s} for j, s in enumerate(row) if s >= threshold),
                        key=lambda item: -item["score"],
                    )
                    text_results[task][sample] = chosen[:top_k] if top_k else chosen
            else:
                probs = task_logits.softmax(-1)
                k = min(top_k or 1, probs.shape[-1])
                top_scores, top_ids = probs.topk(k, dim=-1)
                for sample, row_scores, row_ids in zip(samples, top_scores.tolist(), top_ids.tolist(), strict=True):
                    best = [{"label": id2label[j], "score": s} for j, s in zip(row_ids, row_scores, strict=True)]
                    text_results[task][sample] = best if top_k else best[0]

    # ------------------------------------------------------------------ assembly
    def _assemble(
        self,
        sample: _Sample,
        rows: list[_Row],
        tasks: list[str],
        token_reads: dict[str, dict[int, tuple[list[int], list[float]]]],
        text_results: dict[str, dict[int, Any]],
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        text = sample.text
        for task in tasks:
            kind = self.output_kinds[task]
            if kind not in (ENTITIES, WORD_TAGS):
                result[task] = None if sample.empty else text_results[task].get(sample.index)
                continue
            if sample.empty:
                result[task] = []
                continue
            id2label = self.model.config.tasks[task]["id2label"]
            read: list[tuple[int, int, float]] = []
            for row_index in sample.rows:
                ids, scores = token_reads[task][row_index]
                read.extend(zip(rows[row_index].words, ids, scores, strict=True))
            if len(sample.rows) > 1:
                read.sort(key=lambda item: item[0])
            words = []
            for word, label_id, score in read:
                start, end = sample.word_spans[word]
                words.append({"word": text[start:end], "tag": id2label[label_id], "score": score, "start": start, "end": end})
            result[task] = group_entities(words, text) if kind == ENTITIES else words
        return result

    # ------------------------------------------------------------------ public
    def predict(
        self,
        inputs: Any,
        tasks: str | Sequence[str] | None = None,
        batch_size: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        stride: int | None = None,
        max_length: int | None = None,
        is_split_into_words: bool | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Predict the selected tasks for one input or many (the same as calling the pipeline).

        Returns one dict `{task: result}` for a single input, a list of them (in input order) for a list.
        """
        preprocess, forward, postprocess = self._sanitize_parameters(
            tasks=tasks,
            top_k=top_k,
            threshold=threshold,
            stride=stride,
            max_length=max_length,
            is_split_into_words=is_split_into_words,
        )
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        postprocess = {**self._postprocess_params, **postprocess}
        batch_size = int(batch_size or self._batch_size or DEFAULT_BATCH_SIZE)
        if batch_size < 1:
            raise HfMtlError(f"batch_size must be >= 1, got {batch_size}.")
        items, single = self._normalize_inputs(inputs, preprocess.get("is_split_into_words", False))
        task_names = forward.get("tasks") or self.model.task_names
        samples, rows = self._tokenize(items, stride=preprocess.get("stride"), max_length=preprocess.get("max_length"))
        model_outputs = self._forward_rows(rows, task_names, batch_size, postprocess)
        results = [self._assemble(sample, rows, task_names, *model_outputs) for sample in samples]
        return results[0] if single else results

    def _forward_rows(
        self, rows: list[_Row], tasks: list[str], batch_size: int, postprocess: dict[str, Any]
    ) -> tuple[dict[str, dict[int, Any]], dict[str, dict[int, Any]]]:
        token_reads: dict[str, dict[int, Any]] = {task: {} for task in tasks}
        text_results: dict[str, dict[int, Any]] = {task: {} for task in tasks}
        top_k = postprocess.get("top_k")
        threshold = postprocess.get("threshold", DEFAULT_THRESHOLD)
        with self.device_placement(), torch.inference_mode():
            for batch in self._batches(rows, batch_size):
                logits = self._run_batch(rows, batch, tasks)
                self._read_batch(rows, batch, logits, token_reads, text_results, top_k, threshold)
        return token_reads, text_results

    def __call__(self, inputs: Any, **kwargs: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """Predict the selected tasks; see the class docstring for the options and output format."""
        kwargs.pop("num_workers", None)
        return self.predict(inputs, **kwargs)

    # The single-input steps of transformers' Pipeline API, on top of the same batched code.
    def preprocess(self, input_: Any, **preprocess_params: Any) -> dict[str, Any]:
        items, _ = self._normalize_inputs(input_, preprocess_params.get("is_split_into_words", False))
        samples, rows = self._tokenize(
            items[:1], stride=preprocess_params.get("stride"), max_length=preprocess_params.get("max_length")
        )
        return {"samples": samples, "rows": rows}

    def _forward(self, input_tensors: dict[str, Any], tasks: list[str] | None = None) -> dict[str, Any]:
        tasks = tasks or self.model.task_names
        return {**input_tensors, "tasks": tasks, "outputs": self._forward_rows(input_tensors["rows"], tasks, DEFAULT_BATCH_SIZE, {})}

    def postprocess(self, model_outputs: dict[str, Any], top_k: int | None = None, threshold: float | None = None) -> Any:
        rows, tasks = model_outputs["rows"], model_outputs["tasks"]
        if top_k is not None or threshold is not None:  # text results depend on them: recompute
            model_outputs["outputs"] = self._forward_rows(
                rows, tasks, DEFAULT_BATCH_SIZE, {"top_k": top_k, "threshold": threshold or DEFAULT_THRESHOLD}
            )
        return self._assemble(model_outputs["samples"][0], rows, tasks, *model_outputs["outputs"])


def predict(
    model: MultiTaskModel,
    tokenizer: Any,
    texts: Any,
    tasks: str | Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Predict `tasks` (default: all) for a list of texts (or pre-split sentences); JSON-serializable results.

    Always returns a list (one dict per input, in input order), also for a single text. Other options
    (`top_k`, `threshold`, `stride`, `max_length`, `is_split_into_words`) are those of [`MultiTaskPipeline`].

    Example:
        ```python
        >>> from hf_mtl.pipeline import predict
        >>> predict(model, tokenizer, ["Ada Lovelace lived in London."], tasks=["ner"])
        [{'ner': [{'entity_group': 'PER', 'score': 0.99, 'word': 'Ada Lovelace', 'start': 0, 'end': 12}, ...]}]
        ```
    """
    pipe = MultiTaskPipeline(model=model, tokenizer=tokenizer, device=model.device)
    results = pipe.predict(texts, tasks=tasks, batch_size=batch_size, **kwargs)
    return [results] if isinstance(results, dict) else results


def register_pipeline() -> None:
    """Register the `"multitask"` task with transformers, so `pipeline("multitask", model=folder)` works.

    Idempotent; hf_mtl calls it on import.

    Example:
        >>> from transformers import pipeline
        >>> register_pipeline()
        >>> nlp = pipeline("multitask", model="path/to/multitask-model")  # doctest: +SKIP
    """
    current = PIPELINE_REGISTRY.supported_tasks.get(PIPELINE_TASK)
    if current is not None and current.get("impl") is MultiTaskPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK, pipeline_class=MultiTaskPipeline, pt_model=MultiTaskModel, type="text"
    )


__all__ = [
    "MultiTaskPipeline",
    "PipelineInputError",
    "group_entities",
    "is_entity_labels",
    "predict",
    "register_pipeline",
    "task_output_kind",
]
