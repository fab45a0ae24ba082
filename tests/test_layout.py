"""The package layout: one folder per capability, imports that follow the layers, a self-contained modeling core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from transformers.dynamic_module_utils import get_relative_import_files

import hf_mtl
from hf_mtl.modeling import MODELING_DIR, REMOTE_CODE_FILES

PACKAGE = Path(hf_mtl.__file__).parent
# Each folder may import the folders listed for it (and the standard library and third-party packages).
LAYERS = {
    "modeling": set(),
    "data": {"modeling"},
    "metrics": {"modeling"},
    "export": {"modeling", "data", "metrics"},
    "training": {"modeling", "data", "metrics", "export"},
    "workflow": {"modeling", "data", "metrics", "export", "training"},
}


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(level, module, inside a function) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((0, alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level and not child.module:  # from . import x
                    found.extend((child.level, alias.name, in_function) for alias in child.names)
                else:
                    found.append((child.level, child.module or "", in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def test_every_module_lives_in_a_capability_folder():
    top_level = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py", "__main__.py"]
    assert sorted(path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()) == sorted(LAYERS)


@pytest.mark.parametrize("name", REMOTE_CODE_FILES)
def test_modeling_core_imports_only_torch_transformers_stdlib_and_siblings(name):
    siblings = {Path(file).stem for file in REMOTE_CODE_FILES}
    for level, module, in_function in imports(MODELING_DIR / name):
        root = module.split(".")[0]
        if level:
            assert level == 1 and root in siblings, f"{name}: relative import {'.' * level}{module} leaves the folder"
        elif root == "peft":
            assert in_function, f"{name}: peft is imported only inside the functions that use LoRA"
        else:
            assert root in {"__future__", "torch", "transformers", "safetensors"} or root in sys.stdlib_module_names, (
                f"{name} imports {module}: the modeling core is remote code (torch, transformers and its safetensors, stdlib, siblings)"
            )


def test_files_copied_next_to_weights_are_exactly_the_modeling_folder(tiny_model, tmp_path):
    closure = {Path(file).name for root in ("modeling_multitask.py", "configuration_multitask.py")
               for file in [MODELING_DIR / root, *get_relative_import_files(str(MODELING_DIR / root))]}
    assert closure == set(REMOTE_CODE_FILES)
    tiny_model.save_pretrained(tmp_path)
    assert {path.name for path in tmp_path.glob("*.py")} == set(REMOTE_CODE_FILES)


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_folders_import_only_the_layers_below_them(folder):
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        package_depth = len(path.relative_to(PACKAGE).parts) - 1
        for level, module, _ in imports(path):
            if level == 0:
                assert not module.startswith("hf_mtl"), f"{path}: use relative imports inside hf_mtl ({module})"
                continue
            if level <= package_depth:
                continue  # within the folder
            target = module.split(".")[0]
            assert target in LAYERS[folder], f"{path.relative_to(PACKAGE)} imports hf_mtl.{module}: {folder} may use {sorted(LAYERS[folder])}"
