"""UD annotations as tasks: CoNLL-U HEAD/DEPREL, FEATS and LEMMA read, packed, grouped, trained and evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_mtl.data.conll import read_conllu_split, tree_problems
from hf_mtl.data.groups import prepare_group
from hf_mtl.data.tasks import TaskSpec
from hf_mtl.modeling.errors import DataError, TaskError
from hf_mtl.modeling.lemma_rules import apply_lemma_rule
from hf_mtl.modeling.parsing import unpack_arcs_list

DATA = Path(__file__).resolve().parents[1] / "recipes" / "data"
TRAIN, VALIDATION = DATA / "ud_en_ewt_train.conllu", DATA / "ud_en_ewt_validation.conllu"
SENTENCE = """# sent_id = s1
1\tFrom\tfrom\tADP\tIN\t_\t3\tcase\t_\t_
2\tthe\tthe\tDET\tDT\tDefinite=Def\t3\tdet\t_\t_
3\tAP\tAP\tPROPN\tNNP\tNumber=Sing\t4\tobl\t_\t_
4\tcomes\tcome\tVERB\tVBZ\tNumber=Sing\t0\troot\t_\t_

"""


def ud_specs(split_file=VALIDATION):
    kinds = [("upos", "token-classification", "upos"), ("feats", "token-classification", "feats"),
             ("lemma", "lemmatization", "lemma"), ("deps", "dependency-parsing", "deprel")]
    return [TaskSpec(name=name, type=kind, group="ud", train={"path": str(split_file), "tag_column": column},
                     validation={"path": str(VALIDATION), "tag_column": column}) for name, kind, column in kinds]


def test_conllu_columns_read_heads_feats_and_lemma_rules(tmp_path):
    path = tmp_path / "s.conllu"
    path.write_text(SENTENCE, encoding="utf-8")
    deps = read_conllu_split(path, "deprel").dataset[0]
    assert deps["tags"] == ["case", "det", "obl", "root"] and deps["heads"] == [3, 3, 4, 0]
    assert read_conllu_split(path, "feats").dataset[0]["tags"] == ["_", "Definite=Def", "Number=Sing", "Number=Sing"]
    rules = read_conllu_split(path, "lemma").dataset[0]["tags"]
    assert [apply_lemma_rule(w, r) for w, r in zip(["From", "the", "AP", "comes"], rules, strict=True)] == [
        "from", "the", "AP", "come"]


def test_missing_heads_and_ill_formed_gold_trees(tmp_path):
    path = tmp_path / "bad.conllu"
    path.write_text(SENTENCE.replace("\t3\tcase", "\t_\tcase"), encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.conllu:2: token 'From' has no HEAD"):
        read_conllu_split(path, "deprel")
    path.write_text(SENTENCE.replace("\t4\tobl", "\t0\tobl") + SENTENCE.replace("\t0\troot", "\t1\troot"), encoding="utf-8")
    notes = read_conllu_split(path, "deprel").notes
    assert any("1 gold trees with several roots" in note for note in notes), notes
    assert any("1 gold trees with a cycle" in note for note in notes), notes
    assert tree_problems([2, 0, 2]) == [] and tree_problems([2, 1]) == ["no root", "a cycle"]


def test_parsing_and_lemma_tasks_read_conllu_only_and_check_their_column(tmp_path):
    from hf_mtl.data.prepare import load_task_splits

    csv = tmp_path / "x.csv"
    csv.write_text("text,label\na,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="dependency-parsing tasks read CoNLL-U files"):
        load_task_splits(TaskSpec(name="deps", type="dependency-parsing", train=str(csv)))
    with pytest.raises(DataError, match=r"dependency-parsing tasks read the CoNLL-U column\(s\) \['deprel'\], not 'xpos'"):
        load_task_splits(TaskSpec(name="deps", type="dependency-parsing", train={"path": str(TRAIN), "tag_column": "xpos"}))
    with pytest.raises(TaskError, match="must be one of"):
        TaskSpec(name="pos", type="token-classification", train={"path": str(TRAIN), "tag_column": "misc"})


def test_one_group_packs_heads_and_relations_and_takes_unseen_open_labels(tokenizer):
    group = prepare_group("ud", ud_specs(), tokenizer)
    deps = group.tasks["deps"]
    relations = deps.labels
    raw = deps.raw["train"][0]
    row = group.tokenized["train"][0]
    first_subwords = [value for value in row["labels_deps"] if value != -100]
    assert unpack_arcs_list(first_subwords, len(relations)) == [
        (head, relations.index(tag)) for head, tag in zip(raw["heads"], raw["tags"], strict=True)][:len(first_subwords)]
    assert {"labels_upos", "labels_feats", "labels_lemma", "labels_deps"} <= set(row)
    assert "_" in group.tasks["feats"].labels  # FEATS "no features" is a label


def test_a_kind_group_trains_and_evaluates_uas_las_and_lemmas(tmp_path, tokenizer, tiny_encoder_dir):
    from hf_mtl import MultiTaskModel
    from hf_mtl.training.trainer import MultiTaskTrainer
    from hf_mtl.training.training_args import MultiTaskTrainingArguments

    group = prepare_group("ud", ud_specs(VALIDATION), tokenizer)
    model = MultiTaskModel.from_encoder(str(tiny_encoder_dir), tasks={n: d.head_config for n, d in group.tasks.items()})
    args = MultiTaskTrainingArguments(str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=8,
                                      report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
                                      dataloader_pin_memory=False)
    trainer = MultiTaskTrainer(model=model, args=args, train_dataset={"ud": group.tokenized["train"]},
                               task_groups={"ud": list(group.tasks)},
                               eval_dataset={n: d.tokenized["validation"] for n, d in group.tasks.items()},
                               processing_class=tokenizer)
    trainer.train()
    metrics = trainer.evaluate()
    assert {"eval_deps_uas", "eval_deps_las", "eval_lemma_accuracy", "eval_feats_accuracy"} <= set(metrics)
    assert 0.0 <= metrics["eval_deps_las"] <= metrics["eval_deps_uas"] <= 1.0
    assert all(f"loss_{name}" in entry for entry in trainer.state.log_history if "loss" in entry
               for name in ("deps", "lemma"))


def test_a_word_without_lemma_reads_as_its_own_form_and_is_counted(tmp_path):
    from hf_mtl.data.conll import read_conllu_split

    path = tmp_path / "goeswith.conllu"
    path.write_text("# sent_id = 1\n1\tMail\tmail\tNOUN\tNN\t_\t0\troot\t_\t_\n"
                    "2\tRice@ENRON\t_\tX\tGW\t_\t1\tgoeswith\t_\t_\n3\t_\t_\tPUNCT\tNFP\t_\t1\tpunct\t_\t_\n\n")
    split = read_conllu_split(path, "lemma")
    from hf_mtl.modeling.lemma_rules import apply_lemma_rule

    assert [apply_lemma_rule(w, r) for w, r in zip(split.dataset["words"][0], split.dataset["tags"][0], strict=True)] \
        == ["mail", "Rice@ENRON", "_"]
    assert any("1 words have no LEMMA ('_'; first at line 3): read as their own form" in note for note in split.notes)
