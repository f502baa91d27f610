"""Tables of feed health (incidents, poll history): filled in by the operations work."""
