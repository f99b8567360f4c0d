"""VLLM in-process and `vllm serve`."""
