"""Shipped model cards and the embedded default evaluator's adapter (installed as
``clave_lite.models``; read with importlib.resources, never imported for code)."""
