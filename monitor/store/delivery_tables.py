"""Tables of alert delivery state (recipients, rate limits): filled in by the delivery work."""
