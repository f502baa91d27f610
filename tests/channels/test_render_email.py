"""Email rendering: MIME structure, encoded subjects, derived Message-IDs, no header injection."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from monitor.core.models import AlertMatch
from monitor.core.render_email import (
    alert_email,
    digest_email,
    digest_message_id,
    header_text,
    message_domain,
    message_id,
    recipient_address,
    sender_address,
    update_email,
    update_variant,
)
from tests.channels.conftest import PUBLISHED, SENDER, MakeAlert, build_alert

TO = "ana@readers.test"
MID = "<monitor.d42@monitor.test>"


def reparsed(message: EmailMessage) -> EmailMessage:
    """What a receiver gets: the message serialised as SMTP would, then parsed."""
    parsed = email.message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def render(alert, **options: Any) -> EmailMessage:
    settings: dict[str, Any] = {
        "sender": SENDER,
        "to": TO,
        "timezone": "Europe/Berlin",
        "message_id_": MID,
        "date": PUBLISHED + timedelta(minutes=5),
    }
    settings.update(options)
    return reparsed(alert_email(alert, **settings))


def test_alert_is_multipart_alternative_with_text_then_html(make_alert: MakeAlert):
    message = render(make_alert())

    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    text = text_part.get_content()
    assert "Ferry line to Batam opens in March" in text
    assert "Harbour Daily · 2026-11-26 05:47 CET" in text
    assert "https://news.example.org/2026/11/ferry-batam?ref=rss&x=1" in text
    assert "Also reported by: Coast Times, Island Post" in text
    html_body = html_part.get_content()
    assert '<a href="https://news.example.org/2026/11/ferry-batam?ref=rss&amp;x=1">' in html_body
    assert "new <strong>ferry</strong> line to <strong>Batam</strong>" in html_body


def test_headers_identify_the_delivery(make_alert: MakeAlert):
    message = render(make_alert())

    assert message["From"] == SENDER
    assert message["To"] == TO
    assert message["Message-ID"] == MID
    assert message["Subject"] == "[Ferries, Batam] Ferry line to Batam opens in March"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Thu, 26 Nov 2026 04:52:00 +0000"


def test_a_non_ascii_subject_goes_out_as_utf8_encoded_words(make_alert: MakeAlert):
    alert = make_alert(title="Überschwemmung in Köln — 洪水")
    raw = alert_email(
        alert, sender=SENDER, to=TO, timezone="UTC", message_id_=MID, date=PUBLISHED
    ).as_bytes(policy=policy.SMTP)

    subject_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in subject_line
    assert raw.isascii()  # every header and part is 7-bit on the wire
    assert reparsed_subject(raw) == "[Ferries, Batam] Überschwemmung in Köln — 洪水"


def reparsed_subject(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=policy.default)["Subject"])


def test_message_ids_are_derived_from_the_delivery_and_the_sender_domain():
    domain = message_domain(SENDER)
    assert domain == "monitor.test"
    assert message_id(42, domain) == "<monitor.d42@monitor.test>"
    assert message_id(42, domain) == message_id(42, domain)
    assert message_domain("odd <a@EXAMPLE.org\r\n>") == "example.org"
    assert message_domain("nobody") == "monitor.invalid"


def test_titles_and_names_cannot_inject_headers_recipients_or_a_body(make_alert: MakeAlert):
    alert = make_alert(
        title="Flood\r\nBcc: evil@attacker.test\r\nX-Injected: 1\n\nfake body",
        matches=(AlertMatch("List\r\nCc: spy@attacker.test", ("x",), "x", ()),),
    )
    message = render(alert, sender="Mon\r\nBcc: evil@attacker.test <alerts@monitor.test>")

    assert set(message.keys()) == {
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    }
    assert message["Subject"] == (
        "[List Cc: spy@attacker.test] Flood Bcc: evil@attacker.test X-Injected: 1 fake body"
    )
    assert message["To"].addresses[0].addr_spec == TO
    assert [a.addr_spec for a in message["From"].addresses] == ["alerts@monitor.test"]


def test_header_text_is_one_clean_line_of_bounded_length():
    assert header_text("a\r\nb\x00c\u202ed\te") == "a bcd e"
    assert len(header_text("x" * 1000)) <= 180


def test_html_part_escapes_feed_markup_and_links_only_http(make_alert: MakeAlert):
    message = render(make_alert(title="<script>alert(1)</script> & co", url="javascript:alert(1)"))
    text_part, html_part = message.iter_parts()
    html_body = html_part.get_content()

    assert "<script>" not in html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html_body
    assert "javascript:" not in html_body
    assert "<script>alert(1)</script> & co" in text_part.get_content()


def test_addresses_are_checked(make_alert: MakeAlert):
    for bad in ("", "no-at-sign", "a@b\r\nBcc: c@d", "<a@b>"):
        with pytest.raises(ValueError, match="not an email address"):
            recipient_address(bad)
    assert recipient_address(" ana@readers.test ").addr_spec == TO
    with pytest.raises(ValueError):
        sender_address("Monitor <not-an-address>")


def test_an_update_replies_in_the_thread_of_the_original(make_alert: MakeAlert):
    alert = make_alert(also_reported_by=("Coast Times", "Island Post", "Ferry Weekly"))
    variant = update_variant(alert)
    update = reparsed(
        update_email(
            alert,
            sender=SENDER,
            to=TO,
            timezone="UTC",
            original_id=MID,
            message_id_=message_id(42, "monitor.test", variant=variant),
            date=PUBLISHED,
        )
    )

    assert update["In-Reply-To"] == MID
    assert update["References"] == MID
    assert update["Message-ID"] != MID
    assert update["Subject"] == "Re: [Ferries, Batam] Ferry line to Batam opens in March"
    text = update.get_body(("plain",))
    assert text is not None
    assert "Also reported by: Coast Times, Island Post, Ferry Weekly" in text.get_content()


def test_update_ids_are_stable_for_the_same_change_and_differ_for_another(make_alert: MakeAlert):
    first = make_alert(also_reported_by=("A", "B"))
    assert update_variant(first) == update_variant(make_alert(also_reported_by=("B", "A")))
    assert update_variant(first) != update_variant(make_alert(also_reported_by=("A", "B", "C")))


def test_digest_is_one_email_grouped_by_watchlist():
    alerts = [
        build_alert(
            delivery_id=n,
            title=f"Story {n}",
            matches=(AlertMatch(("Ferries", "Batam")[n % 2], ("x",), "snippet", ()),),
        )
        for n in range(5)
    ]
    mid = digest_message_id(alerts, PUBLISHED, "monitor.test")
    message = reparsed(
        digest_email(
            alerts,
            reason="daily",
            period_start=PUBLISHED,
            period_end=PUBLISHED + timedelta(days=1),
            sender=SENDER,
            to=TO,
            timezone="UTC",
            message_id_=mid,
            date=PUBLISHED,
        )
    )

    assert message["Subject"] == "daily: 5 stories"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert (
        text.index("Ferries") < text.index("Story 2") < text.index("Batam") < text.index("Story 1")
    )
    lines = text.splitlines()
    assert all(lines.count(f"* Story {n}") == 1 for n in range(5))
    assert mid == digest_message_id(list(reversed(alerts)), PUBLISHED, "monitor.test")
    assert mid != digest_message_id(alerts[:4], PUBLISHED, "monitor.test")
