"""Torch + transformers in-process."""
