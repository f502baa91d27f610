"""Write a throw-away configuration directory for a test and load it like the daemon does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, load_config
from monitor.core.query import validate_query

DEFAULT_WATCHLISTS: list[dict[str, Any]] = [
    {"name": "Starlink", "terms": ["Starlink"]},
    {"name": "Kiriyenko", "terms": ["Kiriyenko"]},
]


def write_config(
    directory: Path,
    *,
    feeds: Sequence[Mapping[str, Any]],
    watchlists: Sequence[Mapping[str, Any]] = DEFAULT_WATCHLISTS,
    database_url: str | None = None,
    monitor: Mapping[str, Any] | None = None,
    recipients: Sequence[Mapping[str, Any]] | None = None,
) -> Config:
    """Write monitor.yaml, feeds.yaml and watchlists.yaml, then load them."""
    directory.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "database_url": database_url or f"sqlite:///{directory / 'monitor.db'}",
        "fetch": {"allow_private_networks": True, "deadline_s": 3},
        "channels": {"console": {"enabled": True}},
        "recipients": list(recipients or [{"name": "desk", "channel": "console"}]),
    }
    for key, value in (monitor or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    (directory / "monitor.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    feeds_doc = {"feeds": [dict(f) for f in feeds]}
    (directory / "feeds.yaml").write_text(yaml.safe_dump(feeds_doc, allow_unicode=True))
    lists = {"watchlists": [dict(w) for w in watchlists]}
    (directory / "watchlists.yaml").write_text(yaml.safe_dump(lists, allow_unicode=True))
    return load_config(directory, query_validator=validate_query, environ={})


def rss(items: Sequence[Mapping[str, str]], *, title: str = "Test feed", lang: str = "en") -> str:
    """A small RSS 2.0 document; each item has title, link, guid, description, date."""
    parts = []
    for i in items:
        parts.append(
            "<item>"
            + "".join(f"<{k}>{v}</{k}>" for k, v in i.items() if k != "date")
            + (f"<pubDate>{i['date']}</pubDate>" if "date" in i else "")
            + "</item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.test/</link><language>{lang}</language>"
        + "".join(parts)
        + "</channel></rss>"
    )


HEADLINES = (
    ("Harbour council approves winter ferry timetable", "The council voted for fewer crossings."),
    ("Drought forces farmers to sell cattle early", "Pastures dried out across the plateau."),
    ("City orchestra announces a season of new works", "Six premieres are planned for spring."),
    ("Railway strike halts freight on the northern line", "Union leaders rejected the pay offer."),
    ("Vaccine trial enrols its first volunteers", "Researchers expect results next year."),
    ("Budget talks stall over pension reform", "Negotiators will meet again on Monday."),
    ("Flood barriers tested ahead of storm season", "Engineers checked every sluice gate."),
    ("Chess prodigy wins the national title", "The twelve-year-old lost a single game."),
    ("Airport expansion plan goes to public inquiry", "Residents fear more night flights."),
    ("Museum returns looted bronzes to Benin", "The handover took place on Thursday."),
    ("Wildfire smoke closes schools in the valley", "Air quality fell to hazardous levels."),
    ("Central bank holds interest rates steady", "Inflation eased for a third month."),
)


def item(
    n: int, text: str = "", *, title: str | None = None, guid: str | None = None
) -> dict[str, str]:
    """A distinct news item (its own headline and body, so clustering keeps items apart)."""
    headline, body = HEADLINES[n % len(HEADLINES)]
    if n >= len(HEADLINES):
        headline, body = f"Bulletin {n}: {headline.lower()}", f"Item {n}. {body}"
    return {
        "title": title or f"Story number {n}: {headline}",
        "link": f"http://example.test/news/{n}?utm_source=rss",
        "guid": guid or f"id-{n}",
        "description": f"{text} {body}".strip(),
        "date": f"Wed, 25 Nov 2026 {n % 24:02d}:00:00 +0000",
    }
