"""Tokenized splits are cached: a second identical run reads them; any change to data, tokenizer or settings misses."""

from __future__ import annotations

import os
import shutil

import datasets
import pytest
from conftest import SAMPLES_DIR, minilm_dir
from transformers import AutoTokenizer

from hf_mtl.data import prepare_task
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.data.tokenization_cache import default_cache_dir


@pytest.fixture
def fresh_tokenizer():
    """A new tokenizer per test (not the session's ``tokenizer``): the cache fingerprints each tokenizer object once,
    and a test here changes its tokenizer (added tokens, another normalizer)."""
    return AutoTokenizer.from_pretrained(minilm_dir())


@pytest.fixture
def ner_files(tmp_path):
    """Small CoNLL train/validation files (the first sentences of the shipped sample)."""
    blocks = (SAMPLES_DIR / "conll2003_validation.txt").read_text(encoding="utf-8").split("\n\n")
    train, validation = tmp_path / "train.txt", tmp_path / "dev.txt"
    train.write_text("\n\n".join(blocks[1:25]) + "\n", encoding="utf-8")
    validation.write_text("\n\n".join(blocks[25:35]) + "\n", encoding="utf-8")
    return train, validation


def ner_spec(files, **kw) -> TaskSpec:
    return TaskSpec(name="ner", type="token-classification", train=str(files[0]), validation=str(files[1]), **kw)


class CountingCalls:
    """Counts calls of the tokenizer class's ``__call__`` (what a cache hit must skip)."""

    def __init__(self, monkeypatch, tokenizer):
        self.calls = 0
        original = type(tokenizer).__call__

        def counting(tok, *args, **kwargs):
            self.calls += 1
            return original(tok, *args, **kwargs)

        monkeypatch.setattr(type(tokenizer), "__call__", counting)


def test_second_identical_run_reads_the_cache(ner_files, fresh_tokenizer, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    report = first.truncation["train"]
    assert not report.from_cache and report.cache_file and os.path.isfile(report.cache_file)
    assert os.path.dirname(report.cache_file) == str(cache) and os.path.basename(report.cache_file).startswith("cache-")
    assert len(list(cache.glob("cache-*.arrow"))) == 2  # train and validation

    counter = CountingCalls(monkeypatch, fresh_tokenizer)
    second = prepare_task(ner_spec(ner_files), AutoTokenizer.from_pretrained(minilm_dir()), cache_dir=cache)
    assert counter.calls == 0
    assert all(second.truncation[split].from_cache for split in ("train", "validation"))
    assert any("read from the cache" in note for note in second.notes)
    for split in ("train", "validation"):
        assert second.tokenized[split].to_dict() == first.tokenized[split].to_dict()
    assert second.truncation["train"].examples == report.examples


def test_changed_file_misses_even_with_the_same_size_and_mtime(ner_files, fresh_tokenizer, tmp_path):
    cache = tmp_path / "cache"
    before = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    train = ner_files[0]
    stat = train.stat()
    text = train.read_text(encoding="utf-8")
    assert " B-PER\n" in text
    train.write_text(text.replace(" B-PER\n", " B-ORG\n", 1), encoding="utf-8")  # same size
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    assert not after.truncation["train"].from_cache
    assert after.truncation["validation"].from_cache  # unchanged file: still served
    changed = [i for i, (a, b) in enumerate(zip(before.raw["train"]["tags"], after.raw["train"]["tags"], strict=True)) if a != b]
    assert len(changed) == 1
    row = changed[0]
    assert after.tokenized["train"][row]["labels"] != before.tokenized["train"][row]["labels"]


def test_settings_and_tokenizer_changes_miss(ner_files, fresh_tokenizer, tmp_path):
    cache = tmp_path / "cache"
    base = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    shorter = prepare_task(ner_spec(ner_files, max_length=8), fresh_tokenizer, cache_dir=cache)
    assert not shorter.truncation["train"].from_cache
    assert max(shorter.tokenized["train"]["length"]) == 8 and shorter.truncation["train"].truncated_examples > 0
    every = prepare_task(ner_spec(ner_files, label_all_subwords=True), fresh_tokenizer, cache_dir=cache)
    assert not every.truncation["train"].from_cache
    relabelled = prepare_task(ner_spec(ner_files, labels=list(reversed(base.labels))), fresh_tokenizer, cache_dir=cache)
    assert not relabelled.truncation["train"].from_cache

    other = AutoTokenizer.from_pretrained(minilm_dir())
    other.add_tokens(["schoenefeld"])  # another vocabulary: other ids
    changed = prepare_task(ner_spec(ner_files), other, cache_dir=cache)
    assert not changed.truncation["train"].from_cache
    lowercase_off = AutoTokenizer.from_pretrained(minilm_dir(), do_lower_case=False)
    assert not prepare_task(ner_spec(ner_files), lowercase_off, cache_dir=cache).truncation["train"].from_cache
    # ... and the original settings are still served from their own files
    assert prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache).truncation["train"].from_cache


def test_tokenizer_call_state_does_not_change_the_key(ner_files, fresh_tokenizer, tmp_path):
    """Each call sets the fast tokenizer's truncation/padding state; that must not make every run miss."""
    cache = tmp_path / "cache"
    prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    fresh_tokenizer(["a long text"], truncation=True, max_length=3, padding="max_length")
    assert prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache).truncation["train"].from_cache


def test_disable_caching_writes_nothing(ner_files, fresh_tokenizer, tmp_path):
    cache = tmp_path / "cache"
    datasets.disable_caching()
    try:
        td = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    finally:
        datasets.enable_caching()
    assert td.truncation["train"].cache_file is None and not list(cache.glob("*.arrow"))


def test_default_cache_dir_is_under_hf_datasets_cache(ner_files, fresh_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    assert default_cache_dir() == tmp_path / "hf" / "hf_mtl" / "tokenized"
    td = prepare_task(ner_spec(ner_files), fresh_tokenizer)
    assert td.truncation["train"].cache_file.startswith(str(tmp_path / "hf" / "hf_mtl" / "tokenized"))
    shutil.rmtree(tmp_path / "hf")


def test_a_task_group_uses_the_cache_too(ner_files, fresh_tokenizer, tmp_path, monkeypatch):
    """One data path: a task group (and a single task, a group of one) tokenizes through the same cache."""
    from hf_mtl.data import prepare_group

    cache = tmp_path / "cache"
    specs = [TaskSpec(name=name, type="token-classification", group="conll",
                      train={"path": str(ner_files[0]), "tag_column": column},
                      validation={"path": str(ner_files[1]), "tag_column": column})
             for name, column in (("pos", 1), ("ner", 3))]
    first = prepare_group("conll", specs, fresh_tokenizer, cache_dir=cache)
    assert not first.truncation["train"].from_cache and len(list(cache.glob("cache-*.arrow"))) == 2
    counter = CountingCalls(monkeypatch, fresh_tokenizer)
    second = prepare_group("conll", specs, AutoTokenizer.from_pretrained(minilm_dir()), cache_dir=cache)
    assert counter.calls == 0 and all(report.from_cache for report in second.truncation.values())
    assert any("read from the cache" in note for note in second.tasks["ner"].notes)
    assert second.tokenized["train"].to_dict() == first.tokenized["train"].to_dict()
    # a single task is the group of one: the same columns as the group's view of that task
    alone = prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    assert alone.shared is None
    assert alone.tokenized["train"].column_names == second.tasks["ner"].tokenized["train"].column_names


def test_the_tokenizer_is_fingerprinted_once_and_again_after_a_change(ner_files, fresh_tokenizer, tmp_path, monkeypatch):
    """Serializing a tokenizer costs milliseconds: it is done once per tokenizer object, not per task and split,
    and done again when the same object changes (a new token, a new normalizer: the cache must then miss)."""
    from tokenizers import normalizers

    from hf_mtl.data import tokenization_cache

    full = tokenization_cache._full_tokenizer_fingerprint
    calls = []
    monkeypatch.setattr(tokenization_cache, "_full_tokenizer_fingerprint", lambda tok: calls.append(1) or full(tok))
    cache = tmp_path / "cache"
    for _ in range(3):  # 3 tasks x 2 splits
        prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache)
    assert len(calls) == 1
    first = tokenization_cache._tokenizer_fingerprint(fresh_tokenizer)
    assert first == full(fresh_tokenizer)
    fresh_tokenizer.add_tokens(["schoenefeld"])
    assert tokenization_cache._tokenizer_fingerprint(fresh_tokenizer) == full(fresh_tokenizer) != first
    assert not prepare_task(ner_spec(ner_files), fresh_tokenizer, cache_dir=cache).truncation["train"].from_cache
    before = tokenization_cache._tokenizer_fingerprint(fresh_tokenizer)
    fresh_tokenizer.backend_tokenizer.normalizer = normalizers.Lowercase()
    assert tokenization_cache._tokenizer_fingerprint(fresh_tokenizer) == full(fresh_tokenizer) != before
