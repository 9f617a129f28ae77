"""Shared test helpers: tiny real models, loopback LLM servers, the network guard."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository root."""
