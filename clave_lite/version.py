"""The package version: its own module so that every layer can name it without importing the
API facade (``clave_lite/__init__.py``) above them."""

__version__ = "0.1.0"
