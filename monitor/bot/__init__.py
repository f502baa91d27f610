"""bot layer of monitor (see docs/architecture)."""
