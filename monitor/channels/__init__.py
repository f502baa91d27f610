"""channels layer of monitor (see docs/architecture)."""
