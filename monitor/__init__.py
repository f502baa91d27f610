"""monitor: a media-monitoring alert daemon.

Feeds are polled, new items are normalised and stored, grouped into stories,
matched against watchlists, and alerts are delivered through an outbox.
See docs/ and ../shared/design/ARCHITECTURE.md for the layout.
"""

__version__ = "0.1.0"
