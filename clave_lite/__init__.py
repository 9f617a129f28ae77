"""clave-lite: tell, fully offline, which human values an LLM response supports or opposes.

The runtime (this package minus :mod:`clave_lite.export`) stays light: it never imports torch,
transformers or peft, so a scoring install is small and starts fast.
"""

__version__ = "0.1.0"

LABELS: tuple[str, ...] = ("supports", "opposes", "unrelated")
"""The canonical label set, in the order used everywhere (probability vectors, confusion rows)."""
