"""The canonical label set. It lives here, at the bottom of the layers, so every layer can use it."""

LABELS: tuple[str, ...] = ("supports", "opposes", "unrelated")
"""The canonical label set, in the order used everywhere (probability vectors, confusion rows)."""
