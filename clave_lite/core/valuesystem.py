"""Value systems as data: a name, a label set, and values with definitions.

Systems live in YAML/JSON files (built-ins under ``clave_lite/core/systems/``), never in code, so a
user can calibrate clave-lite to their own system by writing one file. Loading validates every
field and names the exact mistake, because a silently wrong definition becomes a silently
wrong evaluator.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml

from clave_lite.core.labels import LABELS
from clave_lite.core.yamlfile import load_yaml
from clave_lite.errors import UnknownNameError, ValueSystemError, check_keys

_TOP_KEYS = {"name", "title", "description", "source", "labels", "violation", "groups", "values"}
_VALUE_KEYS = {"name", "definition", "group", "aliases", "items"}
_GROUP_KEYS = {"name", "description"}


def _key(name: str) -> str:
    """Normalise a value name for lookup: case and surrounding/inner whitespace don't matter."""
    return " ".join(str(name).split()).casefold()


@dataclass(frozen=True)
class Value:
    name: str
    definition: str
    group: str | None = None
    aliases: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""


@dataclass(frozen=True)
class ValueSystem:
    name: str
    title: str
    description: str
    labels: tuple[str, ...]
    values: tuple[Value, ...]
    groups: tuple[Group, ...] = ()
    source: str = ""
    violation: str | None = None
    """The label that means harm: what a policy with no rules flags (``opposes`` where the system
    has it; ``supports`` for a harm taxonomy such as risk14, where *supports* means the text
    exhibits the harm; None: nothing is flagged by default)."""
    _index: dict[str, Value] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for value in self.values:
            for spelling in (value.name, *value.aliases):
                self._index[_key(spelling)] = value

    @property
    def value_names(self) -> list[str]:
        return [v.name for v in self.values]

    def find(self, name: str) -> Value | None:
        """The value called ``name`` (case-insensitive, aliases allowed), or None."""
        return self._index.get(_key(name))

    def get(self, name: str) -> Value:
        """Like :meth:`find` but an unknown name is an error that lists the known ones."""
        value = self.find(name)
        if value is None:
            raise ValueSystemError(
                f"unknown value '{name}' in system '{self.name}'; "
                f"known values: {', '.join(self.value_names)}"
            )
        return value

    def select(self, names: Iterable[str]) -> list[Value]:
        return [self.get(n) for n in names]

    def to_dict(self) -> dict[str, Any]:
        """The file form (also embedded in exported evaluators)."""
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.source,
            "labels": list(self.labels),
        }
        if self.violation != default_violation(self.labels):
            out["violation"] = self.violation
        if self.groups:
            out["groups"] = [{"name": g.name, "description": g.description} for g in self.groups]
        values = []
        for v in self.values:
            item: dict[str, Any] = {"name": v.name, "definition": v.definition}
            if v.group:
                item["group"] = v.group
            if v.aliases:
                item["aliases"] = list(v.aliases)
            if v.items:
                item["items"] = list(v.items)
            values.append(item)
        out["values"] = values
        return out


def builtin_names() -> list[str]:
    files = resources.files("clave_lite.core.systems").iterdir()
    return sorted(p.name[: -len(".yaml")] for p in files if p.name.endswith(".yaml"))


def load_system(name_or_path: str | Path) -> ValueSystem:
    """A built-in system by name (``schwartz10``) or a user's YAML/JSON file by path."""
    text = str(name_or_path)
    if text in builtin_names():
        resource = resources.files("clave_lite.core.systems") / f"{text}.yaml"
        return parse_system(yaml.safe_load(resource.read_text(encoding="utf-8")), f"<built-in {text}>")
    path = Path(text)
    if not path.exists():
        # a bare name nothing has is a usage error (exit 2, as for every unknown --system); a
        # file path that is not there is missing data (exit 3)
        looks_like_file = path.suffix.lower() in (".yaml", ".yml", ".json") or "/" in text or os.sep in text
        raise (ValueSystemError if looks_like_file else UnknownNameError)(
            f"no value system '{text}': not a built-in ({', '.join(builtin_names())}) "
            "and no such file"
        )
    if path.is_dir():
        raise ValueSystemError(f"{path}: is a directory, expected a YAML or JSON value-system file")
    try:
        raw = path.read_text(encoding="utf-8-sig")
        data = json.loads(raw) if path.suffix.lower() == ".json" else load_yaml(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueSystemError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {detail}") from exc
    return parse_system(data, str(path))


class _Fields:
    """Reads typed fields of one value-system file; every mistake names the file and the place."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: str) -> ValueSystemError:
        return ValueSystemError(f"{self.where}: {message}")

    def text(self, obj: dict, key: str, ctx: str, required: bool = True) -> str:
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(f"{ctx}: missing '{key}'")
            return ""
        if not isinstance(value, str):
            raise self.fail(f"{ctx}: '{key}' must be a string, got {type(value).__name__}")
        return value.strip()

    def str_list(self, obj: dict, key: str, ctx: str) -> tuple[str, ...]:
        value = obj.get(key) or []
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            raise self.fail(f"{ctx}: '{key}' must be a list of non-empty strings")
        return tuple(x.strip() for x in value)

    def no_extra(self, obj: dict, allowed: set[str], ctx: str, say_allowed: bool = True) -> None:
        check_keys(obj, allowed, f"{self.where}: {ctx}", ValueSystemError, say_allowed)


def _labels(f: _Fields, data: dict) -> tuple[str, ...]:
    labels = f.str_list(data, "labels", "system") or LABELS
    bad_labels = [lab for lab in labels if lab not in LABELS]
    if bad_labels:
        raise f.fail(f"labels {bad_labels} not allowed; choose from {list(LABELS)}")
    twice = sorted({lab for lab in labels if list(labels).count(lab) > 1})
    if twice:
        raise f.fail(f"label(s) {twice} listed twice in labels")
    if "supports" not in labels or "unrelated" not in labels:
        raise f.fail("labels must include 'supports' and 'unrelated'")
    return tuple(labels)


def default_violation(labels: tuple[str, ...]) -> str | None:
    return "opposes" if "opposes" in labels else None


def _violation(f: _Fields, data: dict, labels: tuple[str, ...]) -> str | None:
    if "violation" not in data:
        return default_violation(labels)
    value = data["violation"]
    if value is None:
        return None
    if value not in labels or value == "unrelated":
        raise f.fail(f"'violation' must be one of the system's labels other than unrelated "
                     f"({', '.join(lab for lab in labels if lab != 'unrelated')}), or null; got {value!r}")
    return str(value)


def _groups(f: _Fields, data: dict) -> list[Group]:
    groups: list[Group] = []
    raw_groups = data.get("groups") or []
    if not isinstance(raw_groups, list):
        raise f.fail("'groups' must be a list")
    for i, g in enumerate(raw_groups, 1):
        ctx = f"group #{i}"
        if not isinstance(g, dict):
            raise f.fail(f"{ctx} must be a mapping")
        f.no_extra(g, _GROUP_KEYS, ctx, say_allowed=False)
        groups.append(Group(f.text(g, "name", ctx), f.text(g, "description", ctx, required=False)))
    if len({g.name for g in groups}) != len(groups):
        raise f.fail("duplicate group name")
    return groups


def _values(f: _Fields, data: dict, group_names: set[str]) -> list[Value]:
    raw_values = data.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        raise f.fail("'values' must be a non-empty list")
    values: list[Value] = []
    seen: dict[str, str] = {}
    for i, v in enumerate(raw_values, 1):
        if not isinstance(v, dict):
            raise f.fail(f"value #{i} must be a mapping with 'name' and 'definition'")
        vname = f.text(v, "name", f"value #{i}")
        ctx = f"value '{vname}'"
        f.no_extra(v, _VALUE_KEYS, ctx)
        definition = f.text(v, "definition", ctx)
        group = f.text(v, "group", ctx, required=False) or None
        if group and group not in group_names:
            raise f.fail(f"{ctx}: group '{group}' is not declared under 'groups'")
        aliases = f.str_list(v, "aliases", ctx)
        for spelling in (vname, *aliases):
            k = _key(spelling)
            if k in seen:
                raise f.fail(f"duplicate value name '{spelling}' (also used by '{seen[k]}')")
            seen[k] = vname
        values.append(Value(vname, definition, group, aliases, f.str_list(v, "items", ctx)))
    return values


def parse_system(data: Any, where: str) -> ValueSystem:
    """Validate the file form and build a :class:`ValueSystem`; every mistake is named."""
    f = _Fields(where)
    if not isinstance(data, dict):
        raise f.fail("a value system must be a mapping with keys name, labels, values")
    check_keys(data, _TOP_KEYS, where, ValueSystemError)
    name = f.text(data, "name", "system")
    labels = _labels(f, data)
    groups = _groups(f, data)
    values = _values(f, data, {g.name for g in groups})
    return ValueSystem(
        name=name,
        title=f.text(data, "title", "system", required=False) or name,
        description=f.text(data, "description", "system", required=False),
        labels=labels,
        values=tuple(values),
        groups=tuple(groups),
        source=f.text(data, "source", "system", required=False),
        violation=_violation(f, data, labels),
    )


def resolve_system(name: str | None) -> ValueSystem | None:
    """``--system NAME|FILE`` (None stays None): an unknown name is a usage error (exit 2, as in
    every command); a file that exists but is not a valid value system stays a data error (3)."""
    if not name:
        return None
    try:
        return load_system(name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"--system: {exc}") from None
    except ValueSystemError as exc:
        if Path(name).exists():
            raise
        raise UnknownNameError(f"--system: {exc}") from None
