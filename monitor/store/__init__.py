"""store layer of monitor (see docs/architecture)."""
