"""Click options generated from a job's options dataclass (:mod:`clave_lite.options`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import click

from clave_lite.options import PerSystem, flag_name, option_specs

T = TypeVar("T")


def _click_type(spec: dict[str, Any]):
    kind, lo, hi = spec["kind"], spec["min"], spec["max"]
    bounds = {"min_open": spec["min_open"], "max_open": spec["max_open"]}
    if kind == "int":
        return click.IntRange(lo, hi, **bounds) if lo is not None or hi is not None else int
    if kind == "float":
        return click.FloatRange(lo, hi, **bounds) if lo is not None or hi is not None else float
    if kind == "path":
        return click.Path(path_type=Path)
    if kind == "file":
        return click.Path(path_type=Path, dir_okay=False)
    if kind == "dir":
        return click.Path(path_type=Path, file_okay=False)
    if kind == "choice":
        return click.Choice(list(spec["choices"]))
    return str


def flags_from(cls: type, only: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> Callable[[Callable], Callable]:
    """Decorate a click command with one option per field of ``cls`` (or the fields named in
    ``only``); the command then gets those fields as keyword arguments (pass them to
    :func:`build`)."""

    def decorate(command: Callable) -> Callable:
        for f, spec in reversed(option_specs(cls)):
            if (only is not None and f.name not in only) or f.name in exclude:
                continue
            flag = flag_name(f.name, spec)
            names = ["-o", flag, f.name] if flag == "--output" else [flag, f.name]
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            help_text = spec["help"] + (f" [env {spec['envvar']}]" if spec["envvar"] else "")
            if spec["kind"] == "flag":
                command = click.option(flag, f.name, is_flag=True, default=f.default, show_default=spec["show_default"],
                                       help=help_text, envvar=spec["envvar"])(command)
                continue
            if spec["kind"] in ("multi", "per_system"):
                callback = _per_system if spec["kind"] == "per_system" else None
                command = click.option(flag, f.name, multiple=True, callback=callback, metavar=spec["metavar"],
                                       help=help_text)(command)
                continue
            default = None if required or spec["kind"] == "csv" else f.default
            command = click.option(*names, type=_click_type(spec), required=required, default=default,
                                   envvar=spec["envvar"], show_default=spec["show_default"] and default is not None,
                                   metavar=spec["metavar"], help=help_text)(command)
        return command

    return decorate


def _per_system(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> PerSystem:
    """``N`` or ``SYSTEM=N`` (repeatable) → {system or "*": N}."""
    limits: PerSystem = {}
    for item in items:
        key, _, number = item.rpartition("=")
        try:
            limits[key or "*"] = int(number)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected N or SYSTEM=N") from None
        if limits[key or "*"] < 0:
            raise click.BadParameter(f"{item!r}: N must be 0 or more")
    return limits


def build(cls: type[T], values: dict[str, Any], **more: Any) -> T:
    """The options object from the command's keyword arguments (``csv`` fields split; a field the
    command has no flag for keeps its default), plus ``more`` fields set by the command."""
    kwargs = dict(more)
    for f, spec in option_specs(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if spec["kind"] == "csv":
            value = [v.strip() for v in value.split(",") if v.strip()] if value else None
        elif spec["kind"] == "multi":
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
