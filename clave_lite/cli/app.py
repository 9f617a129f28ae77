"""The command group, the options several commands share, and the CLI-side helpers
(JSON output, problem lines, progress bars, loading an evaluator)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from clave_lite import errors
from clave_lite.core.jsonl import ON_ERROR_CHOICES
from clave_lite.errors import Remedy
from clave_lite.version import __version__

DEBUG_ENV = "CLAVE_LITE_DEBUG"


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`



class _Group(click.Group):
    """Turns library errors into one line and a documented exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ClaveError as exc:
            click.echo(f"error: {exc.worded(Remedy.as_flag)}", err=True)  # remedies as flags
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `clave-lite score ... | head -1`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail again
            ctx.exit(EXIT_BROKEN_PIPE)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            # a full disk (or `> /dev/full`): say so; nothing more can be written to stdout
            click.echo(f"error: cannot write the output: {exc.strerror} (free some space, or write elsewhere)",
                       err=True)
            devnull = os.open(os.devnull, os.O_WRONLY)
            with contextlib.suppress(OSError):
                os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(errors.EXIT_USAGE)
        except Exception as exc:  # a bug: say so plainly, keep the traceback for those who ask
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} "
                       f"(a bug in clave-lite; rerun with {DEBUG_ENV}=1 for the traceback)", err=True)
            ctx.exit(errors.EXIT_INTERNAL)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def report_problems(problems: list[errors.Problem], limit: int = 20) -> int:
    """Print problems to stderr; return how many lines were skipped."""
    for p in problems[:limit]:
        click.echo(str(p), err=True)
    if len(problems) > limit:
        click.echo(f"... and {len(problems) - limit} more", err=True)
    return sum(p.kind == "skipped" for p in problems)


on_error_option = click.option(
    "--on-error", type=click.Choice(ON_ERROR_CHOICES), default="stop", show_default=True,
    envvar="CLAVE_LITE_ON_ERROR",
    help="A malformed input line: 'stop' with its file:line, or 'skip' it, report it, and exit 7.")


on_truncated_option = click.option(
    "--on-truncated", type=click.Choice(["flag", "score"]), default=None,
    help="A text longer than the evaluator reads (--windows): 'flag' it (the default, or the policy "
         "file's on_truncated) or 'score' it on what was read.")


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def cpu_paths_line() -> str:
    """What llama.cpp was built with and which of its CPU paths clave-lite lets it use."""
    from clave_lite.runtime.cpu import llama_features

    f = llama_features()
    return (f"llama.cpp (llama-cpp-python {f['llama_cpp_python']}): {f['system_info']}\n"
            f"extra buffer types: {'on' if f['use_extra_bufts'] else 'off'} ({f['reason']})")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:  # an eager option runs before the group's own error handling
        line = cpu_paths_line()
    except errors.ClaveError as exc:
        click.echo(f"error: {exc.worded(Remedy.as_flag)}", err=True)
        ctx.exit(exc.exit_code)
    click.echo(f"clave-lite, version {__version__}\n{line}")
    ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, llama.cpp's CPU features and the CPU-path decision, and exit.")
def cli() -> None:
    """Tell, offline, which human values an LLM response supports or opposes.

    \b
    Score with the embedded default evaluator (Schwartz-10, Touché-20, CSV-12):
      clave-lite score examples/responses.jsonl
      clave-lite score texts.csv --system touche20 -o scores.jsonl
    \b
    Calibrate your own evaluator:
      clave-lite systems show schwartz10       # a value system (or your YAML file)
      clave-lite convert fulcra train.jsonl -o tuples.jsonl
      clave-lite train tuples.jsonl -o runs/mine
      clave-lite export runs/mine -o mine.gguf
      clave-lite eval dev.jsonl --model mine.gguf

    Labelled data is JSONL, one {"text", "value", "label"} per line, label one of
    supports / opposes / unrelated (or 1 / -1 / 0). The user directory for built
    evaluators and caches is $CLAVE_LITE_HOME (default ~/.cache/clave-lite).
    """


def model_flags(*only: str) -> Callable[[Callable], Callable]:
    """The evaluator options of a scoring command (``--model``, ``--threads``, ``--gpu-layers``,
    ``--provider``, ``--windows``, ``--batch-size``, or those named), generated from their one
    declaration, :class:`~clave_lite.build.loading.ModelOptions`; the command gets them as
    keyword arguments of those names (``build(ModelOptions, kwargs)``)."""
    from clave_lite.build.loading import ModelOptions
    from clave_lite.cli.options import flags_from

    return flags_from(ModelOptions, only=only or None)


def command_line(ctx: click.Context) -> str:
    """The command as it would be typed to rerun it: arguments and every non-default option."""
    import shlex

    parts = ["clave-lite", ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if isinstance(param, click.Argument):
            parts.append(str(value))
        elif value is not None and value is not False and value != param.default and isinstance(param, click.Option):
            parts.append(param.opts[-1] if len(param.opts) > 1 and param.opts[-1].startswith("--") else param.opts[0])
            if not param.is_flag:
                parts.append(str(value))
    return " ".join(shlex.quote(p) for p in parts)


def system_flag(name: str):
    """``--system NAME|FILE`` as a value system (:func:`clave_lite.core.valuesystem.resolve_system`)."""
    from clave_lite.core.valuesystem import resolve_system

    return resolve_system(name)


def default_evaluator_path() -> Path:
    from clave_lite.build.default_model import default_evaluator_path

    return default_evaluator_path(progress=Bars())


PROGRESS_INTERVAL_ENV = "CLAVE_LITE_PROGRESS_INTERVAL"
PROGRESS_INTERVAL_S = 30.0
"""Without a terminal (a log file, CI, ``nohup``), a line per stage every this many seconds."""


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Bars:
    """The CLI's one :class:`clave_lite.progress.Progress`: each stage a click progress bar on
    stderr (the step status, e.g. the loss, beside its name), each note a line on stderr.

    click draws nothing but the label when stderr is not a terminal, so a job logged to a file
    would say nothing for an hour; there each stage instead writes a plain line (position,
    elapsed, ETA) every ``CLAVE_LITE_PROGRESS_INTERVAL`` seconds (default 30) and one when it ends."""

    def __init__(self, stream: Any = None, clock: Any = None, tty: bool | None = None) -> None:
        import time

        self._stream = stream or sys.stderr
        self._clock = clock or time.monotonic
        self._tty = self._stream.isatty() if tty is None else tty
        self._bar: Any = None
        self._stage = ""
        self._label = ""
        self._total = self._pos = 0
        self._t0 = self._last = 0.0
        try:
            self._interval = float(os.environ.get(PROGRESS_INTERVAL_ENV, PROGRESS_INTERVAL_S))
        except ValueError:
            self._interval = PROGRESS_INTERVAL_S

    def start(self, stage: str, total: int) -> None:
        self.finish()
        self._stage = self._label = stage
        self._total, self._pos = total, 0
        self._t0 = self._last = self._clock()
        if self._tty:
            self._bar = click.progressbar(length=total, label=stage, file=self._stream, show_eta=True,
                                          show_pos=True)
            self._bar.__enter__()
        else:
            self._line(f"{stage}: 0/{total}")

    def advance(self, n: int = 1, status: str | None = None) -> None:
        if not self._stage:
            return
        self._pos += n
        if status:
            self._label = f"{self._stage} ({status})"
        if self._bar is not None:
            self._bar.label = self._label
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            elapsed = now - self._t0
            pct = f" ({100 * self._pos / self._total:.0f} %)" if self._total else ""
            eta = ""
            if self._total and self._pos:
                eta = f", ETA {_duration(elapsed * (self._total - self._pos) / self._pos)}"
            self._line(f"{self._label}: {self._pos}/{self._total}{pct}, {_duration(elapsed)} elapsed{eta}")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
        elif self._stage:
            self._line(f"{self._label}: done, {self._pos}/{self._total} in {_duration(self._clock() - self._t0)}")
        self._stage = ""

    def note(self, message: str) -> None:
        click.echo(message, err=True)

    def _line(self, text: str) -> None:
        click.echo(text, file=self._stream)


def csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None
