"""Rendering alerts as text for people: plain text (console, email text part).

Titles and snippets are data, never markup: this module only lays them out.
Telegram HTML and email HTML renderers live beside this one when those channels land.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from monitor.core.models import Alert


def local_time(alert: Alert, timezone: str) -> str:
    """The story's time in the recipient's time zone, e.g. '2026-11-26 11:47 WIB'."""
    when = alert.published.astimezone(ZoneInfo(timezone))
    return when.strftime("%Y-%m-%d %H:%M %Z")


def render_plain(alert: Alert, *, timezone: str = "UTC", width: int = 78) -> str:
    """A compact, readable plain-text alert."""
    names = ", ".join(m.watchlist for m in alert.matches) or "(no watchlist)"
    lines = [
        f"[{names}] {alert.title}",
        f"  {alert.source} · {local_time(alert, timezone)}",
    ]
    if alert.url:
        lines.append(f"  {alert.url}")
    for m in alert.matches:
        terms = ", ".join(m.terms)
        lines.append(f"  {m.watchlist}: {terms}")
        if m.snippet:
            lines.append(f"    “{m.snippet}”")
    if alert.also_reported_by:
        lines.append("  also reported by: " + ", ".join(alert.also_reported_by))
    return "\n".join(line if len(line) <= width * 3 else line[: width * 3] + "…" for line in lines)
