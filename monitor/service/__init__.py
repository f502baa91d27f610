"""service layer of monitor (see docs/architecture)."""
