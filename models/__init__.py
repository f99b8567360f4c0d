"""Model catalog (data) and sources: synthetic builds, local files, hub."""
