"""How the pipeline cuts raw text into the words of token tasks: `word_splitting="whitespace"|"tokenizer"`, read from
the training words, recorded in config.json, chosen per call; character offsets index the input either way."""

from __future__ import annotations

import pytest
import torch
from conftest import SAMPLES_DIR, minilm_dir, tiny_bert_config

from hf_mtl import HfMtlError, MultiTaskConfig, MultiTaskModel, TaskError, TaskSpec, prepare_task
from hf_mtl.data.task_data import guess_word_splitting
from hf_mtl.modeling.inference import MultiTaskPipeline
from hf_mtl.modeling.word_windows import whitespace_word_ids, whitespace_words

TWEET = "Hi @sarah_k, don't miss #NLProc at 5pm!!"
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
POS = ["X", "NOUN", "VERB"]


def make_pipe(tokenizer, **splittings):
    tasks = {"ner": {"type": "token-classification", "labels": NER},
             "pos": {"type": "token-classification", "labels": POS},
             "sentiment": {"type": "text-classification", "labels": ["negative", "positive"]}}
    for task, splitting in splittings.items():
        tasks[task]["word_splitting"] = splitting
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=tasks)).eval()
    return MultiTaskPipeline(model=model, tokenizer=tokenizer)


def test_whitespace_words_and_their_tokens():
    spans = whitespace_words("  Hi\t@sarah_k,\u00a0ok ")
    assert spans == {0: (2, 4), 1: (5, 14), 2: (15, 17)}  # any Unicode whitespace, exact offsets
    # a token whose offsets start at the space before its word (DeBERTa-style) belongs to that word
    assert whitespace_word_ids("a bc", [None, 0, 1, None], [(0, 0), (0, 1), (1, 4), (0, 0)], whitespace_words("a bc")) == [
        None, 0, 1, None]


def test_whitespace_splitting_keeps_joined_words_whole(tokenizer):
    pipe = make_pipe(tokenizer, ner="whitespace", pos="whitespace")
    result = pipe(TWEET)
    words = [word["word"] for word in result["pos"]]
    assert words == TWEET.split()
    assert all(TWEET[w["start"]:w["end"]] == w["word"] for w in result["pos"])
    # the same tags as the whitespace words given pre-split, as the training data was
    pre_split = pipe(TWEET.split(), is_split_into_words=True)
    assert [w["tag"] for w in result["pos"]] == [w["tag"] for w in pre_split["pos"]]
    assert [w["score"] for w in result["pos"]] == pytest.approx([w["score"] for w in pre_split["pos"]], abs=1e-5)
    # text tasks read the raw text's encoding, whatever the splitting
    assert result["sentiment"]["score"] == pytest.approx(make_pipe(tokenizer)(TWEET)["sentiment"]["score"], abs=1e-6)


def test_tokenizer_splitting_is_the_default_of_earlier_models(tokenizer):
    pipe = make_pipe(tokenizer)  # no word_splitting recorded: split as before, at punctuation
    words = [word["word"] for word in pipe(TWEET)["pos"]]
    assert words[:6] == ["Hi", "@", "sarah", "_", "k", ","]
    assert [w["word"] for w in pipe(TWEET, word_splitting="whitespace")["pos"]] == TWEET.split()
    recorded = make_pipe(tokenizer, ner="whitespace", pos="whitespace")
    assert [w["word"] for w in recorded(TWEET, word_splitting="tokenizer")["pos"]] == words


def test_whitespace_splitting_with_windows(tokenizer):
    pipe = make_pipe(tokenizer, ner="whitespace", pos="whitespace")
    text = " ".join([TWEET] * 12)
    result = pipe(text, stride=8, max_length=32)
    assert [w["word"] for w in result["pos"]] == text.split()
    assert all(text[w["start"]:w["end"]] == w["word"] for w in result["pos"])


def test_disagreeing_tasks_and_bad_values_are_clear_errors(tokenizer):
    pipe = make_pipe(tokenizer, ner="whitespace", pos="tokenizer")
    with pytest.raises(HfMtlError, match=r"split raw text into words differently .*'ner': 'whitespace', 'pos': "
                                         r"'tokenizer'.*pass word_splitting="):
        pipe(TWEET)
    assert set(pipe(TWEET, tasks=["ner", "sentiment"])) == {"ner", "sentiment"}  # one token task: no conflict
    assert len(pipe(TWEET, word_splitting="whitespace")["pos"]) == len(TWEET.split())
    with pytest.raises(HfMtlError, match="word_splitting must be one of tokenizer, whitespace, not 'spaces'"):
        pipe(TWEET, word_splitting="spaces")
    with pytest.raises(ValueError, match="`word_splitting` applies to token tasks"):
        MultiTaskConfig(encoder=tiny_bert_config(), tasks={"s": {"type": "text-classification", "labels": ["a", "b"],
                                                                 "word_splitting": "whitespace"}})


# ---------------------------------------------------------------------------------------------- training data
def test_guess_on_the_shipped_conll_sample_and_tweet_style_words(tokenizer, tmp_path):
    conll = TaskSpec(name="ner", type="token-classification", train=str(SAMPLES_DIR / "conll2003_train.txt"),
                     max_train_examples=200)
    data = prepare_task(conll, tokenizer)
    assert data.head_config["word_splitting"] == "tokenizer"  # punctuation stands alone in CoNLL
    tweets = tmp_path / "tweets.conll"
    rows = [("@sarah_k", "B-PER"), ("don't", "O"), ("miss", "O"), ("it,", "O"), ("see", "O"), ("you", "O"),
            ("in", "O"), ("Paris!", "B-LOC")]
    tweets.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in rows) for _ in range(3)) + "\n", encoding="utf-8")
    spec = TaskSpec(name="ner", type="token-classification", train={"path": str(tweets), "format": "conll"})
    data = prepare_task(spec, tokenizer)
    assert data.head_config["word_splitting"] == "whitespace"
    model = MultiTaskModel.from_encoder(minilm_dir(), tasks={"ner": data.head_config})
    model.save_pretrained(tmp_path / "model")
    assert MultiTaskModel.from_pretrained(tmp_path / "model").config.tasks["ner"]["word_splitting"] == "whitespace"
    forced = TaskSpec(name="ner", type="token-classification", train={"path": str(tweets), "format": "conll"},
                      word_splitting="tokenizer")
    assert prepare_task(forced, tokenizer).head_config["word_splitting"] == "tokenizer"  # the spec wins


def test_guess_needs_words():
    assert guess_word_splitting([]) is None
    assert guess_word_splitting([["U.S.", "officials", "said", "n't", "O'Brien", "'s", "6-4", "."]]) == "tokenizer"


def test_recipe_key_is_checked():
    spec = TaskSpec.from_dict({"name": "ner", "type": "token-classification", "train": "x.conll",
                               "word_splitting": "whitespace"})
    assert spec.word_splitting == "whitespace" and TaskSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(TaskError, match="`word_splitting` must be one of tokenizer, whitespace, not 'whitspace'"):
        TaskSpec(name="ner", type="token-classification", train="x.conll", word_splitting="whitspace")
    with pytest.raises(TaskError, match="`word_splitting` applies to token tasks"):
        TaskSpec(name="s", type="text-classification", train="x.tsv", word_splitting="whitespace")


def test_training_refuses_token_tasks_split_differently():
    from hf_mtl.workflow.preflight import check_word_splittings

    tasks = {"ner": {"type": "token-classification", "word_splitting": "whitespace"},
             "pos": {"type": "token-classification"}, "sentiment": {"type": "text-classification"}}
    with pytest.raises(Exception, match=r"split differently \(\{'ner': 'whitespace', 'pos': 'tokenizer'\}.*"
                                        r"Set `word_splitting: whitespace` or `word_splitting: tokenizer`"):
        check_word_splittings(tasks)
    check_word_splittings({**tasks, "pos": {"type": "token-classification", "word_splitting": "whitespace"}})
