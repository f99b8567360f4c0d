"""Cost model, API price table and the static dashboard site."""
