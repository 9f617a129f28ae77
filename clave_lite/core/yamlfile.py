"""YAML as users write it, read strictly: ``yaml.safe_load``, with a key given twice in one
mapping refused (PyYAML keeps the last one silently, so ``labels:`` written twice would change a
value system without a word)."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKey(yaml.YAMLError):
    """A mapping gives one key twice."""


def _check_keys(node: yaml.Node | None) -> None:
    stack = [node] if node is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in item.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise DuplicateKey(f"key {key.value!r} given twice (lines {seen[key.value]} and "
                                           f"{key.start_mark.line + 1})")
                    seen[key.value] = key.start_mark.line + 1
                stack += [key, value]
        elif isinstance(item, yaml.SequenceNode):
            stack += item.value


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing duplicate keys (:class:`DuplicateKey`, a ``yaml.YAMLError``)."""
    _check_keys(yaml.compose(text, Loader=yaml.SafeLoader))
    return yaml.safe_load(text)
