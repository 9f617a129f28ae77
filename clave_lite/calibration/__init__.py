"""CLAVE's calibration: a hosted LLM (OpenAI-compatible API) extracts value concepts from labelled samples; cached, resumable."""
