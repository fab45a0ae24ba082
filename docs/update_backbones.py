"""Write the family x capability table of docs/backbones.md from the checks of tests/family_matrix.py.

Run from the repository root: ``python docs/update_backbones.py`` (several minutes: every family's ONNX export is
traced and checked with onnxruntime; ``--no-onnx`` leaves that column as "not run"). The table between the ``<!-- matrix -->`` markers is replaced; a test
(``tests/test_docs.py``) checks that it lists exactly the families the matrix discovers.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import family_matrix as fm  # noqa: E402

COLUMNS = ("train", "reload", "pipeline", "export", "pooling", "gradient_checkpointing", "onnx")
HEADER = ("family", "train", "save/reload", "pipeline raw = pre-split", "export (logits equal)",
          "pooling = family head", "gradient checkpointing", "ONNX")


REFUSED_CELLS = {
    "gradient_checkpointing": "no: refused in one line (the family's model does not implement it)",
    "export": "token task: yes; text task: refused (the family's sequence class reads another encoder output)",
    "pooling": "no (see export)",
    "onnx": "refused in one line, no file left",
}


def status(check: str, family: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        try:
            fm.CHECK_FUNCTIONS[check](family, Path(folder))
        except fm.Refused:
            if check == "onnx" and family in fm.ONNX_REFUSED:
                return f"refused in one line, no file left: {fm.ONNX_REFUSED[family][1]}"
            return REFUSED_CELLS[check]
        except Exception as error:  # noqa: BLE001 - a failure is what the table reports
            return f"FAILS: {type(error).__name__}"
    return "yes"


def main() -> None:
    fm.quiet()
    onnx = "--no-onnx" not in sys.argv
    rows = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for family in fm.matrix_families():
        cells = [status(check, family) if onnx or check != "onnx" else "not run" for check in COLUMNS]
        rows.append(f"| `{family}` | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    for family, reason in sorted(fm.SKIP.items()):
        rows.append(f"| `{family}` | not tried: {reason} |" + " |" * (len(HEADER) - 2))
    path = ROOT / "docs" / "backbones.md"
    text = path.read_text(encoding="utf-8")
    table = "<!-- matrix -->\n" + "\n".join(rows) + "\n<!-- /matrix -->"
    path.write_text(re.sub(r"<!-- matrix -->.*?<!-- /matrix -->", lambda _: table, text, flags=re.S), encoding="utf-8")


if __name__ == "__main__":
    main()
