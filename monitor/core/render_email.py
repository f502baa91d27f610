"""Email messages for alerts, story updates and digests: text and HTML parts, safe headers.

Every message is multipart/alternative (a plain-text part, then an HTML part), UTF-8,
with a subject that the email library encodes as RFC 2047 words when it is not ASCII.
Message-IDs are derived from the delivery, never random: a retry of the same delivery
carries the same Message-ID (a receiver can drop the duplicate), an update of a story
gets its own id (delivery id + a hash of what changed) and points at the original with
In-Reply-To and References so mail clients thread it.

Anything that reaches a header (titles, watchlist names, display names) goes through
``header_text``: control characters (CR and LF included) and bidi overrides removed,
whitespace flattened, length capped. So a title cannot add a header, a recipient or a
body. The recipients of the SMTP envelope are set by the channel, never read from here.

Pure: builds ``EmailMessage`` objects; no network, no clock (``date`` is passed in).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.core.models import Alert
from monitor.core.render_telegram import (
    clean_text,
    clip,
    digest_title,
    group_by_watchlist,
    headline,
    local_time,
    outlets_line,
    safe_link,
    snippet_groups,
    snippet_parts,
    watchlist_names,
)

SUBJECT_LIMIT = 180
DISPLAY_NAME_LIMIT = 100
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_STYLE = "font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45;color:#222"


# -- headers and identities -----------------------------------------------------------------


def header_text(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """Text safe for a header: one line, no control characters, at most ``limit`` chars."""
    return clip(clean_text(text).strip(), limit)


def split_sender(sender: str) -> tuple[str, str]:
    """(display name, address) of a configured From such as "Monitor <alerts@example.org>"."""
    cleaned = clean_text(sender).strip()
    if cleaned.endswith(">") and "<" in cleaned:
        name, _, address = cleaned[:-1].rpartition("<")
        return name.strip().strip('"').strip(), address.strip()
    return "", cleaned


def sender_address(sender: str) -> Address:
    """The configured From as a header-safe Address; ValueError when it is not one."""
    name, address = split_sender(sender)
    username, at, domain = address.rpartition("@")
    if not at or not username or not domain or " " in address:
        raise ValueError(f"not an email address: {sender!r}")
    try:
        return Address(header_text(name, DISPLAY_NAME_LIMIT), username, domain)
    except (HeaderParseError, IndexError) as exc:
        raise ValueError(f"not an email address: {sender!r}") from exc


def recipient_address(address: str) -> Address:
    """A recipient's address as an Address; ValueError when it is not one."""
    cleaned = clean_text(address).strip()
    username, at, domain = cleaned.rpartition("@")
    if not at or not username or not domain or " " in cleaned or "<" in cleaned:
        raise ValueError(f"not an email address: {address!r}")
    try:
        return Address(addr_spec=cleaned)
    except (HeaderParseError, IndexError) as exc:
        raise ValueError(f"not an email address: {address!r}") from exc


def message_domain(sender: str) -> str:
    """The domain for our Message-IDs: the sender's, reduced to safe characters."""
    _, at, domain = split_sender(sender)[1].rpartition("@")
    domain = domain.lower() if at else ""
    domain = "".join(char for char in domain if char in _DOMAIN_CHARS).strip(".-")
    return domain or "monitor.invalid"


def message_id(delivery_id: int, domain: str, *, variant: str | None = None) -> str:
    """``<monitor.d42@example.org>`` for delivery 42; ``variant`` for its updates."""
    suffix = f".{variant}" if variant else ""
    return f"<monitor.d{delivery_id}{suffix}@{domain}>"


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:12]


def update_variant(alert: Alert) -> str:
    """What identifies one update of a story: the watchlists and outlets it now lists."""
    watchlists = sorted(m.watchlist for m in alert.matches)
    return "u" + _short_hash(*watchlists, "|", *sorted(alert.also_reported_by))


def digest_message_id(alerts: Sequence[Alert], period_start: datetime, domain: str) -> str:
    """One id per digest content: the same deliveries in the same period give the same id."""
    ids = sorted(str(alert.delivery_id) for alert in alerts)
    return f"<monitor.digest.{_short_hash(period_start.isoformat(), *ids)}@{domain}>"


def subject(alert: Alert) -> str:
    names = ", ".join(watchlist_names(alert))
    return header_text(f"[{clip(names, 60)}] {headline(alert)}")


def _new_message(
    *, sender: str, to: str, subject_line: str, message_id_: str, date: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender_address(sender)
    message["To"] = recipient_address(to)
    message["Subject"] = header_text(subject_line)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id_
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    return message


def _with_bodies(message: EmailMessage, text: str, html_body: str) -> EmailMessage:
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_body, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


# -- plain text and HTML pieces ---------------------------------------------------------------


def _snippet_html(snippet: str, highlights: Sequence[tuple[int, int]]) -> str:
    return "".join(
        f"<strong>{html.escape(text)}</strong>" if hit else html.escape(text)
        for text, hit in snippet_parts(snippet, highlights)
    )


def _snippet_text(snippet: str, highlights: Sequence[tuple[int, int]]) -> str:
    return "".join(text for text, _ in snippet_parts(snippet, highlights))


def _title_html(alert: Alert) -> str:
    title = html.escape(headline(alert))
    link = safe_link(alert.url)
    return f'<a href="{html.escape(link, quote=True)}">{title}</a>' if link else title


def _source_line(alert: Alert, timezone: str) -> str:
    source = clean_text(alert.source).strip() or "unknown source"
    return f"{clip(source, 200)} · {local_time(alert.published, timezone)}"


def _document(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>'
        f'<body style="{_STYLE}">\n{body}\n</body></html>\n'
    )


def alert_text(alert: Alert, timezone: str) -> str:
    lines = [
        "Watchlists: " + ", ".join(watchlist_names(alert)),
        "",
        headline(alert),
        _source_line(alert, timezone),
    ]
    link = safe_link(alert.url)
    if link:
        lines.append(link)
    for names, snippet, spans in snippet_groups(alert.matches):
        lines += ["", f"{', '.join(names)}:", f"  {_snippet_text(snippet, spans)}"]
    if alert.also_reported_by:
        lines += ["", "Also reported by: " + outlets_line(alert.also_reported_by)]
    return "\n".join(lines) + "\n"


def alert_html(alert: Alert, timezone: str) -> str:
    names = ", ".join(html.escape(n) for n in watchlist_names(alert))
    parts = [
        f'<p style="color:#666;margin:0">Watchlists: <strong>{names}</strong></p>',
        f'<h2 style="font-size:19px;margin:8px 0">{_title_html(alert)}</h2>',
        f'<p style="color:#666;margin:0">{html.escape(_source_line(alert, timezone))}</p>',
    ]
    for group_names, snippet, spans in snippet_groups(alert.matches):
        label = html.escape(", ".join(group_names))
        parts.append(
            f'<p style="margin:12px 0 0"><em>{label}</em></p>'
            '<blockquote style="margin:4px 0;padding-left:10px;border-left:3px solid #ccc">'
            f"{_snippet_html(snippet, spans)}</blockquote>"
        )
    if alert.also_reported_by:
        outlets = html.escape(outlets_line(alert.also_reported_by))
        parts.append(f"<p>Also reported by: {outlets}</p>")
    return _document("\n".join(parts))


# -- messages -----------------------------------------------------------------------------------


def alert_email(
    alert: Alert, *, sender: str, to: str, timezone: str, message_id_: str, date: datetime
) -> EmailMessage:
    """The email for one alert."""
    message = _new_message(
        sender=sender, to=to, subject_line=subject(alert), message_id_=message_id_, date=date
    )
    return _with_bodies(message, alert_text(alert, timezone), alert_html(alert, timezone))


def update_email(
    alert: Alert,
    *,
    sender: str,
    to: str,
    timezone: str,
    original_id: str,
    message_id_: str,
    date: datetime,
) -> EmailMessage:
    """A short follow-up in the thread of the original alert: what the story has now."""
    message = _new_message(
        sender=sender,
        to=to,
        subject_line="Re: " + subject(alert),
        message_id_=message_id_,
        date=date,
    )
    message["In-Reply-To"] = original_id
    message["References"] = original_id
    names = ", ".join(watchlist_names(alert))
    outlets = outlets_line(alert.also_reported_by) if alert.also_reported_by else ""
    lines = [f"Update: {headline(alert)}", f"Watchlists: {names}"]
    if outlets:
        lines.append(f"Also reported by: {outlets}")
    link = safe_link(alert.url)
    if link:
        lines.append(link)
    body = [
        f"<p><strong>Update:</strong> {_title_html(alert)}</p>",
        f"<p>Watchlists: {html.escape(names)}</p>",
    ]
    if outlets:
        body.append(f"<p>Also reported by: {html.escape(outlets)}</p>")
    return _with_bodies(message, "\n".join(lines) + "\n", _document("\n".join(body)))


def digest_email(
    alerts: Sequence[Alert],
    *,
    reason: str,
    period_start: datetime,
    period_end: datetime,
    sender: str,
    to: str,
    timezone: str,
    message_id_: str,
    date: datetime,
) -> EmailMessage:
    """One email with every alert of the digest, grouped by watchlist."""
    title = digest_title(len(alerts), reason)
    period = (
        f"{local_time(period_start, timezone, '%Y-%m-%d %H:%M')} – "
        f"{local_time(period_end, timezone)}"
    )
    message = _new_message(
        sender=sender, to=to, subject_line=title, message_id_=message_id_, date=date
    )
    text = [title, period]
    body = [
        f'<h2 style="font-size:19px">{html.escape(title)}</h2>',
        f"<p>{html.escape(period)}</p>",
    ]
    for name, members in group_by_watchlist(alerts):
        text += ["", name, "=" * min(len(name), 60)]
        body.append(f'<h3 style="margin:18px 0 6px">{html.escape(name)}</h3><ul>')
        for alert in members:
            text += ["", f"* {headline(alert)}", f"  {_source_line(alert, timezone)}"]
            link = safe_link(alert.url)
            if link:
                text.append(f"  {link}")
            item = [
                _title_html(alert),
                f'<br><span style="color:#666">{html.escape(_source_line(alert, timezone))}</span>',
            ]
            first = next((m for m in alert.matches if m.snippet.strip()), None)
            if first is not None:
                text.append(f"  {_snippet_text(first.snippet, first.highlights)}")
                item.append(f"<br>{_snippet_html(first.snippet, first.highlights)}")
            if alert.also_reported_by:
                outlets = outlets_line(alert.also_reported_by)
                text.append(f"  Also reported by: {outlets}")
                item.append(f"<br><em>Also reported by: {html.escape(outlets)}</em>")
            body.append(f'<li style="margin-bottom:10px">{"".join(item)}</li>')
        body.append("</ul>")
    return _with_bodies(message, "\n".join(text) + "\n", _document("\n".join(body)))
