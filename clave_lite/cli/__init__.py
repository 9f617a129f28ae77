"""The ``clave-lite`` command line. It parses flags and prints; the work happens in the library.

Exit codes (scripts may rely on them): 0 ok, 1 internal error (a bug), 2 usage, 3 bad input
data, 4 bad model file, 5 hosted LLM failed after retries, 6 a quality gate refused, 7 finished
but some input lines were skipped (``--on-error skip``), 8 ``filter`` flagged a text, 141 the reader of stdout went away
(``| head``; nothing is printed, as for Unix tools killed by SIGPIPE).

One module per command family; :mod:`clave_lite.cli.app` holds the group and shared options.
"""

from clave_lite.cli import adapt, bake, calibrate, data, evaluate, filter, report, score, serve  # noqa: F401  (registers the commands)
from clave_lite.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="clave-lite")



if __name__ == "__main__":
    main()
