"""Backbone families whose own model calls its pooler unconditionally (issue #22, defect 1)."""

from __future__ import annotations

import pytest
import torch
from transformers import LayoutLMConfig, SqueezeBertConfig

from hf_mtl import MultiTaskConfig, MultiTaskModel

TASKS = {"topic": {"type": "text-classification", "labels": ["a", "b"]},
         "ner": {"type": "token-classification", "labels": ["O", "B-X", "I-X"]}}
FAMILIES = {
    "squeezebert": lambda: SqueezeBertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64, embedding_size=32),
    "layoutlm": lambda: LayoutLMConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=37),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_that_always_call_their_pooler_train_and_reload(family, tmp_path):
    torch.manual_seed(0)
    model = MultiTaskModel(MultiTaskConfig(encoder=FAMILIES[family](), tasks=TASKS))
    assert not any(".pooler." in name for name in model.state_dict())  # no unused pooler weights
    input_ids = torch.randint(5, 120, (2, 6))
    loss = model(input_ids=input_ids, labels=torch.tensor([0, 1]), task="topic").loss
    loss.backward()
    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    for task in TASKS:
        torch.testing.assert_close(model(input_ids=input_ids, task=task).logits,
                                   reloaded(input_ids=input_ids, task=task).logits)
