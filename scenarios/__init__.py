"""Scenario definitions and the load generators that drive a backend."""
