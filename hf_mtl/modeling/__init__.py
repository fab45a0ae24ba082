"""The modeling core: config, model, heads, task kinds, encoder families, loading checks and the pipeline.

Every module in this folder imports only torch, transformers, the standard library and its siblings (by relative
import; peft only inside the functions that load LoRA adapters), so ``save_pretrained`` copies the whole folder next
to the weights and ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` /
``pipeline("multitask", model=folder, trust_remote_code=True)`` work where hf_mtl is not installed
(``tests/test_layout.py`` parses the imports and checks that the files transformers copies are exactly this folder).
This ``__init__`` is not copied: it is the installed package's view of the folder.
"""

from __future__ import annotations

from pathlib import Path

MODELING_DIR = Path(__file__).parent
REMOTE_CODE_FILES: tuple[str, ...] = tuple(sorted(path.name for path in MODELING_DIR.glob("*.py") if path.name != "__init__.py"))
"""The files ``save_pretrained`` copies next to the weights (and ``hf-mtl push`` requires): every module of this folder."""

__all__ = ["MODELING_DIR", "REMOTE_CODE_FILES"]
