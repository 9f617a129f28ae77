"""Offline scoring: the Evaluator, its backends (llama.cpp GGUF, ONNX), the CPU-path decision, reading texts and writing scores."""
