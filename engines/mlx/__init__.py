"""Mlx-lm in-process."""
