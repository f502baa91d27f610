"""Tables of the story index (clustering): filled in by the clustering work."""
