"""How recipes are read as YAML: safely, with YAML 1.2 core scalars, no duplicate keys and bounded aliases.

PyYAML's ``SafeLoader`` implements YAML 1.1, whose implicit types change what a user wrote: ``no``/``yes``/``on``/
``off`` become booleans (a label ``no`` became ``False``), ``010`` is octal 8, ``1_000`` is 1000, ``1:30`` is the
sexagesimal 90, ``2024-01-01`` a date. :class:`RecipeLoader` resolves only the YAML 1.2 core schema: ``true``/
``false``, ``null``/``~``, decimal integers (``0o`` octal, ``0x`` hexadecimal), floats (also ``5e-5``, as people
write learning rates); everything else stays the text written. On top of that, :func:`load_yaml`:

- refuses a key given twice in one mapping (a second ``tasks:`` silently replaced the first list);
- refuses a document whose aliases expand to more than :data:`MAX_YAML_VALUES` values (a "billion laughs" alias
  bomb), before anything is built from it;
- lets the caller check the node tree before it is built (:func:`hf_mtl.workflow.recipe.load_recipe` keeps the
  text of names and labels written as numbers, and refuses a boolean or null where a label name belongs).

Example:

```python
>>> load_yaml("label_map: {0: no, 1: yes}\\ncode: 010\\nrows: 1:30")
{'label_map': {0: 'no', 1: 'yes'}, 'code': 10, 'rows': '1:30'}

```
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..data.raw import brief

__all__ = ["MAX_YAML_VALUES", "RecipeLoader", "ValueCheckError", "as_boolean", "check_recipe_values", "check_task_value", "editor_position", "expand_home", "load_yaml",
           "yaml_problem"]


def expand_home(value: Any) -> Any:
    """A path that starts with ``~`` is the user's home (as the shell would expand it); anything else is kept."""
    return str(Path(value).expanduser()) if isinstance(value, str) and value.startswith("~") else value

# Recipes hold a few hundred values; a document that expands to more through aliases is refused unbuilt.
MAX_YAML_VALUES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"
BOOL_TAG, NULL_TAG, INT_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:int"
FLOAT_TAG, STR_TAG = "tag:yaml.org,2002:float", "tag:yaml.org,2002:str"


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 core-schema scalars and no duplicate keys (see the module docstring)."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeConstructor reports it
                    continue
                if first is not None:
                    raise ValueCheckError(
                        None, None,
                        f"duplicate key {brief(key)} (first at line {first.start_mark.line + 1}); a key may appear "
                        "once in a mapping: merge the two entries",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Node) -> int:
        """YAML 1.2 core integers: ``010`` is ten (not octal eight), ``0o10`` eight, ``0x10`` sixteen."""
        return core_int(self.construct_scalar(node))


def core_int(text: str) -> int:
    """The integer a YAML 1.2 core-schema integer ``text`` writes (``010`` ten, ``0o10`` eight, ``0x10`` sixteen)."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


RecipeLoader.add_constructor(INT_TAG, RecipeLoader.construct_yaml_int)
# Only the core schema's implicit types (and the merge key `<<`); YAML 1.1's are dropped.
RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == MERGE_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern, _first in (
    (BOOL_TAG, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (NULL_TAG, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (INT_TAG, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (FLOAT_TAG, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
):
    RecipeLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def editor_position(text: str, index: int) -> tuple[int, int]:
    """(line, column) of a character as an editor numbers them: YAML also breaks lines at \\x85, U+2028 and U+2029,
    which editors show inside a line."""
    before = text[:index]
    separator = "\n" if "\n" in text else "\r"
    return before.count(separator) + 1, index - (before.rfind(separator) + 1) + 1


def yaml_problem(error: yaml.YAMLError) -> str:
    """What went wrong, in one line; tags that would build Python objects are named as such."""
    problem = str(getattr(error, "problem", None) or error).splitlines()[0]
    if "python/" in problem:
        problem += " (recipes are plain YAML: tags that build Python objects, such as !!python/..., are refused)"
    return problem


def _expanded_size(root: Node, limit: int) -> int:
    """How many values the document holds once every alias is expanded (stops counting past ``limit``)."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a recursive alias counts once
        total = 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        sizes[key] = total
        return total

    return size(root)


def load_yaml(text: str, check: Callable[[Node], None] | None = None) -> Any:
    """The YAML document ``text``, read with :class:`RecipeLoader`; ``check`` sees the node tree before it is built.

    Raises:
        yaml.YAMLError: not YAML, a duplicate key, or aliases that expand past :data:`MAX_YAML_VALUES` values
            (a ``MarkedYAMLError`` whose ``problem_mark`` is where it was found).
    """
    loader = RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_YAML_VALUES) > MAX_YAML_VALUES:
            raise ValueCheckError(
                None, None,
                f"its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values; a recipe this large is refused "
                "unread (an alias bomb?)",
                node.start_mark,
            )
        if check is not None:
            check(node)
        return loader.construct_document(node)
    except RecursionError:
        raise ValueCheckError(None, None, "nested too deeply", None) from None
    finally:
        loader.dispose()


# ------------------------------------------------------------------------------- names and labels keep their text
TASK_TEXT_FIELDS = ("name", "type", "group", "text_column", "text_pair_column", "label_column", "label_separator",
                    "metric", "problem_type", "word_splitting")
SOURCE_TEXT_FIELDS = ("format", "path", "name", "config", "split", "field", "encoding", "rows", "column_names")
SPLIT_FIELDS = ("train", "validation", "test")


def _fail(node: Node, problem: str) -> None:
    raise ValueCheckError(None, None, problem, node.start_mark)


class ValueCheckError(ConstructorError):
    """A value of the wrong kind where a name or a label belongs, or a duplicate key (valid YAML, wrong recipe)."""


def _keep_text(node: Node, where: str, label: bool) -> None:
    """A plain scalar that YAML would read as a number keeps the text written; a boolean (or, for a label, null)
    is an error: ``yes``/``no`` are text already, ``true`` must be quoted to be a name."""
    if isinstance(node, SequenceNode) and not label:  # text_column / column_names: a list of names
        for index, item in enumerate(node.value):
            _keep_text(item, f"{where}[{index}]", label)
        return
    if not isinstance(node, ScalarNode):
        return
    if node.tag in (INT_TAG, FLOAT_TAG) and node.style is None:
        node.tag = STR_TAG
    elif node.tag == BOOL_TAG or (label and node.tag == NULL_TAG):
        kind = "a boolean" if node.tag == BOOL_TAG else "null"
        what = "a label name" if label else "a name"
        _fail(node, f"{where}: {node.value or '(empty)'!s} is read as {kind}, but {what} is text here; "
                    f"quote it ('{node.value}') or give the name")


def _key_text(node: Node, where: str) -> None:
    """A ``label_map`` key: an integer written otherwise than Python writes it (``010``, ``+1``, ``0x1``) keeps its
    text (it is compared with the data's values as text); null is an error."""
    if not isinstance(node, ScalarNode):
        return
    if node.tag == INT_TAG and node.style is None and node.value != str(core_int(node.value)):
        node.tag = STR_TAG
    elif node.tag == NULL_TAG:
        _fail(node, f"{where}: a null key; a key is a raw label value as the data holds it (quote it: 'null')")


def _pairs(node: Node) -> list[tuple[str, Node, Node]]:
    return [(key.value, key, value) for key, value in node.value if isinstance(key, ScalarNode)] \
        if isinstance(node, MappingNode) else []


def _check_task(node: Node, where: str) -> None:
    for name, _, value in _pairs(node):
        if name in TASK_TEXT_FIELDS:
            _keep_text(value, f"{where}.{name}", label=False)
        elif name == "labels" and isinstance(value, SequenceNode):
            for index, item in enumerate(value.value):
                _keep_text(item, f"{where}.labels[{index}]", label=True)
        elif name == "label_map":
            for key_text, key, label in _pairs(value):
                _key_text(key, f"{where}.label_map")
                _keep_text(label, f"{where}.label_map[{key_text or '(empty)'}]", label=True)
        elif name == "label_all_subwords":
            as_boolean(value)
        elif name in SPLIT_FIELDS:
            if isinstance(value, ScalarNode):
                _keep_text(value, f"{where}.{name}", label=False)
            for field_name, _, field_value in _pairs(value):
                if field_name in SOURCE_TEXT_FIELDS:
                    _keep_text(field_value, f"{where}.{name}.{field_name}", label=False)
                elif field_name == "has_header":
                    as_boolean(field_value)
        elif name == "local":
            _check_task(value, f"{where}.local")


# YAML 1.1's booleans other than true/false: in a field that takes true or false, they keep the meaning they had.
YAML_1_1_BOOLEANS = ("yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF")
TOP_BOOLEAN_FIELDS = ("overwrite", "resume")
MODEL_BOOLEAN_FIELDS = ("freeze_encoder", "lora")


def as_boolean(node: Node) -> None:
    """``yes``/``no``/``on``/``off`` written (unquoted) where true or false is expected read as booleans, as YAML 1.1
    read them (in a text field they stay text)."""
    if isinstance(node, ScalarNode) and node.style is None and node.value in YAML_1_1_BOOLEANS:
        node.tag = BOOL_TAG


def check_task_value(field_name: str, node: Node, where: str) -> None:
    """:func:`check_recipe_values` for one task setting given alone (a ``tasks.<task>.<field>=VALUE`` override)."""
    _check_task(MappingNode("tag:yaml.org,2002:map", [(ScalarNode(STR_TAG, field_name), node)]), where.rsplit(".", 1)[0])


def check_recipe_values(root: Node, boolean_training_keys: tuple[str, ...] = ()) -> None:
    """Names, labels and data-source fields of a recipe's tasks keep the text written (see :func:`_keep_text`);
    fields that take true or false (``boolean_training_keys`` among the training arguments) read ``yes``/``no``/
    ``on``/``off`` as YAML 1.1 did (:func:`as_boolean`)."""
    for name, _, value in _pairs(root):
        if name == "tasks" and isinstance(value, SequenceNode):
            for index, task in enumerate(value.value):
                _check_task(task, f"tasks[{index}]")
        elif name in TOP_BOOLEAN_FIELDS:
            as_boolean(value)
        elif name in ("model", "training"):
            wanted = MODEL_BOOLEAN_FIELDS if name == "model" else boolean_training_keys
            for key, _, setting in _pairs(value):
                if key in wanted:
                    as_boolean(setting)

