"""Bake-time pipeline (installed as ``clave_lite.export``): GGUF base → torch, LoRA training,
merging and exporting. Needs the ``bake`` extra (torch, transformers, peft); the scoring
runtime never imports it.
"""
