"""On-disk formats: the evaluator manifest, the GGUF header reader, base-model cards, the per-value head."""
