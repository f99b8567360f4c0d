"""Inference engines behind the Backend protocol, one module each."""
