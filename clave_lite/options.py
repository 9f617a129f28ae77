"""How a job's options are declared: once, as fields of one dataclass (setfit's arguments
dataclass, llama-cpp-python's server settings). Each field carries its help and how it is
checked; :func:`clave_lite.cli.options.flags_from` turns the fields into click options, so a
flag's name, type, range, default and help are written in one place only.

>>> @dataclass
... class Job:
...     budget: int | None = option(None, "At most N calls.", kind="int", min=1)
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING
from typing import Any, Sequence

KINDS = ("str", "int", "float", "flag", "path", "file", "dir", "choice", "csv", "multi", "per_system")
"""``file``: a path that must not be an existing directory; ``dir``: a path that must not be an
existing file; ``csv``: a comma-separated flag that becomes a list of stripped strings (None when
absent); ``multi``: a repeatable flag that becomes a tuple of strings; ``per_system``: a
repeatable ``[SYSTEM=]N`` that becomes ``{SYSTEM or "*": N}`` (:data:`PerSystem`)."""

PerSystem = dict[str, int]
"""A limit per value system; the key ``"*"`` applies to systems not named."""


def option(default: Any = MISSING, help: str = "", *, kind: str = "str", flag: str | None = None,
           min: float | None = None, max: float | None = None, min_open: bool = False, max_open: bool = False,
           choices: Sequence[str] = (), envvar: str | None = None, show_default: bool = True,
           metavar: str | None = None) -> Any:
    """A dataclass field that is also a command-line option (``--field-name`` unless ``flag``;
    ``--on/--off`` for a ``flag`` that can be switched either way). ``min_open``/``max_open``
    leave the bound itself out of the range."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    spec = {"help": help, "kind": kind, "flag": flag, "min": min, "max": max, "min_open": min_open,
            "max_open": max_open, "choices": tuple(choices), "envvar": envvar, "show_default": show_default,
            "metavar": metavar}
    return dataclasses.field(default=default, metadata={"option": spec})


def option_of(cls: type, name: str, **changes: Any) -> Any:
    """The option ``name`` of ``cls`` declared again as a field of another job's options (same
    default, kind, range and environment variable), with ``changes`` (e.g. ``flag``, ``help``):
    the declaration stays in one place."""
    [f] = [f for f in dataclasses.fields(cls) if f.name == name]
    spec = f.metadata["option"]
    if set(changes) - set(spec):
        raise ValueError(f"option() has no {', '.join(sorted(set(changes) - set(spec)))}")
    return dataclasses.field(default=f.default, metadata={"option": {**spec, **changes}})


def option_specs(cls: type) -> list[tuple[dataclasses.Field, dict[str, Any]]]:
    """The fields of ``cls`` declared with :func:`option`, in declaration order."""
    return [(f, f.metadata["option"]) for f in dataclasses.fields(cls) if "option" in f.metadata]


def flag_name(name: str, spec: dict[str, Any]) -> str:
    """The command-line flag of the field ``name`` declared with ``spec`` (``--field-name``
    unless it names its own)."""
    return spec["flag"] or "--" + name.replace("_", "-")


def flag_of(cls: type, name: str) -> str:
    """The command-line flag of the field ``name`` of ``cls``, for messages that name it."""
    [spec] = [spec for f, spec in option_specs(cls) if f.name == name]
    return flag_name(name, spec)
