"""A saved folder carries the `multitask` pipeline as remote code; pipeline and tokenizer load where hf_mtl cannot."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import torch
from conftest import TINY_TASKS, minilm_dir, run_without_hf_mtl, tiny_bert_config

from hf_mtl import MultiTaskConfig, MultiTaskModel
from hf_mtl.export.hub import REQUIRED_FILES
from hf_mtl.modeling.inference import MultiTaskPipeline

TEXTS = ["Ada Lovelace lived in London.", "", "Zürich und Ünïcödé 😀 東京, naïve café!"]
PIPELINE_FILES = ("pipeline_multitask.py", "pipeline_outputs.py", "word_windows.py", "errors.py", "task_kinds.py")

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=tiny_bert_config(), tasks=TINY_TASKS)).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    folder = tmp_path_factory.mktemp("remote") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, MultiTaskPipeline(model=model, tokenizer=tokenizer)


def test_saved_folder_declares_the_pipeline(saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "multitask": {"impl": "pipeline_multitask.MultiTaskPipeline", "pt": ["AutoModel"], "type": "text"}
    }
    for name in PIPELINE_FILES:
        assert (folder / name).is_file(), name
        assert name in REQUIRED_FILES, name  # `hf-mtl push` refuses a folder without them
        # remote code imports only torch, transformers and its sibling files (relatively)
        assert not re.search(r"^\s*(from|import)\s+hf_mtl", (folder / name).read_text(), re.MULTILINE), name


def test_custom_pipelines_entry_does_not_stick_to_the_model(saved):
    folder, pipe = saved
    assert "custom_pipelines" not in pipe.model.config.to_dict()  # written to the folder only
    from transformers import AutoConfig

    # hf_mtl's registered pipeline wins over the folder's entry, so no trust_remote_code is asked for
    assert getattr(AutoConfig.from_pretrained(folder), "custom_pipelines", None) is None


@pytest.fixture(scope="module")
def remote_run(saved, tmp_path_factory):
    """One interpreter without hf_mtl: load the tokenizer with AutoTokenizer, then the pipeline, and predict."""
    folder, _ = saved
    script = textwrap.dedent(
        f"""
        import json
        from transformers import AutoTokenizer, pipeline
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)
        print("TOKENIZER", type(tokenizer).__name__, tokenizer.is_fast, tokenizer("Ada Lovelace")["input_ids"])
        print("END_TOKENIZER", flush=True)
        nlp = pipeline("multitask", model={str(folder)!r}, trust_remote_code=True, device="cpu")
        assert type(nlp).__name__ == "MultiTaskPipeline", type(nlp)
        assert "hf_mtl" not in type(nlp).__module__ and "hf_mtl" not in type(nlp.model).__module__
        streamed = list(nlp(text for text in {TEXTS!r}))
        inferred = pipeline(model={str(folder)!r}, trust_remote_code=True)  # the task from custom_pipelines
        assert type(inferred).__name__ == "MultiTaskPipeline" and inferred.task == "multitask", inferred.task
        print("RESULTS", json.dumps({{"list": nlp({TEXTS!r}, batch_size=2), "stream": streamed}}))
        """
    )
    result = run_without_hf_mtl(script, tmp_path_factory.mktemp("modules"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_pipeline_loads_as_remote_code_without_hf_mtl(saved, remote_run):
    _, pipe = saved
    assert "Do you wish to run the custom code" not in remote_run.stdout + remote_run.stderr
    got = json.loads(remote_run.stdout.split("RESULTS", 1)[1])
    expected = pipe(TEXTS)
    for results in (got["list"], got["stream"]):
        for remote, local in zip(results, expected, strict=True):
            assert remote.keys() == local.keys()
            spans = [[(e["entity_group"], e["start"], e["end"]) for e in r["ner"]] for r in (remote, local)]
            assert spans[0] == spans[1]
            assert [e["score"] for e in remote["ner"]] == pytest.approx([e["score"] for e in local["ner"]], abs=1e-5)
            if local["score"] is None:
                assert remote["sentiment"] is None and remote["tags"] is None and remote["ner"] == []
            else:
                assert remote["sentiment"]["label"] == local["sentiment"]["label"]
                assert remote["score"]["value"] == pytest.approx(local["score"]["value"], abs=1e-5)


def test_tokenizer_loads_without_hf_mtl_and_without_a_prompt(saved, remote_run):
    _, pipe = saved
    # everything printed while the tokenizer loaded (stderr is read whole: its warnings come before the pipeline's)
    output = remote_run.stdout.split("END_TOKENIZER", 1)[0] + remote_run.stderr
    assert "Do you wish to run the custom code" not in output
    assert "You are using a model of type" not in output  # no confusing model-type warning
    expected = pipe.tokenizer("Ada Lovelace")["input_ids"]
    assert f"TOKENIZER {type(pipe.tokenizer).__name__} True {expected}" in remote_run.stdout
