"""sources layer of monitor (see docs/architecture)."""
