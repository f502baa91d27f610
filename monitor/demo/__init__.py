"""`monitor demo`: local sample feeds and article pages, polled twice, alerts shown."""
