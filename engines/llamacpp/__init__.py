"""Llama.cpp in-process, its server, its build, its kernel probe."""
