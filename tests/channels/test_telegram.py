"""The Telegram channel against the local Bot API emulator: what users receive, error kinds.

python-telegram-bot talks HTTP to the emulator on 127.0.0.1; nothing is mocked. Counts
are read at the emulator (messages received, calls made with their answers).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from telegram.error import RetryAfter

from monitor.channels.base import Digest
from monitor.channels.factory import build_channels
from monitor.channels.telegram import TelegramChannel, parse_ref, retry_after_seconds
from monitor.core.models import AlertMatch
from monitor.errors import (
    ConfigError,
    MessageRejectedError,
    PermanentDeliveryError,
    RecipientMovedError,
    TransientDeliveryError,
)
from tests.channels.conftest import (
    PUBLISHED,
    MakeAlert,
    build_alert,
    feed_text,
    telegram_recipient,
)
from tests.support.configs import write_config
from tests.support.telegram_emulator import Fault, TelegramEmulator, objects, utf16_len

USER = 4242
OTHER = 5151
GROUP = -4001
SUPERGROUP = -1004001
ONLY_SEND = frozenset({"sendMessage"})


def sends(tg: TelegramEmulator, chat_id: int) -> list:
    return tg.requests("sendMessage", chat_id=chat_id)


# -- delivery ------------------------------------------------------------------------------


async def test_an_alert_arrives_formatted_with_link_previews_off(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    ref = await telegram.send(make_alert(), telegram_recipient(USER))

    [message] = tg.messages(USER)
    assert ref == f"{USER}:{message.message_id}"
    assert message.parse_mode == "HTML"
    assert message.text.split("\n")[:3] == [
        "🔔 Ferries · Batam",
        "Ferry line to Batam opens in March",
        "Harbour Daily · 2026-11-26 11:47 WIB",
    ]
    kinds = [e["type"] for e in message.entities]
    assert kinds.count("bold") == 4 and "text_link" in kinds and "italic" in kinds
    assert message.link_preview == {"is_disabled": True}
    assert telegram.counters.sent == 1


async def test_link_previews_when_configured(tg: TelegramEmulator, make_alert: MakeAlert):
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url, link_preview=True)
    try:
        await channel.send(make_alert(), telegram_recipient(USER))
    finally:
        await channel.aclose()
    assert tg.messages(USER)[0].link_preview is None


async def test_a_channel_by_username_gets_a_numeric_ref(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    tg.add_chat(-1009876, "channel", username="harbournews")
    recipient = replace(telegram_recipient(0), address="@harbournews")

    ref = await telegram.send(make_alert(), recipient)

    assert ref == "-1009876:1"
    assert parse_ref(ref) == (-1009876, 1)


async def test_429_is_transient_with_the_wait_and_the_channel_never_retries(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    tg.rate_limit(USER, retry_after=5)

    with pytest.raises(TransientDeliveryError) as flood:
        await telegram.send(make_alert(), telegram_recipient(USER))
    await telegram.send(make_alert(), telegram_recipient(OTHER))  # others are not held up

    assert flood.value.retry_after == 5.0
    assert [c.status for c in sends(tg, USER)] == [429]  # no request to that chat after it
    assert len(tg.messages(OTHER)) == 1


@pytest.mark.parametrize("fault", ["blocked", "kicked", "chat_not_found"])
async def test_a_gone_recipient_is_permanent(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert, fault: str
):
    chat = GROUP if fault == "kicked" else USER
    tg.apply_faults({chat: {fault: True}})

    with pytest.raises(PermanentDeliveryError):
        await telegram.send(make_alert(), telegram_recipient(chat))
    assert len(sends(tg, chat)) == 1
    assert tg.messages(chat) == []


async def test_not_enough_rights_is_permanent(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    rights = "Bad Request: not enough rights to send text messages to the chat"
    tg.add_fault(GROUP, Fault("error", 400, rights, times=None))
    with pytest.raises(PermanentDeliveryError):
        await telegram.send(make_alert(), telegram_recipient(GROUP))


async def test_a_migrated_group_names_its_new_id_which_then_works(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    tg.migrate(GROUP, SUPERGROUP)

    with pytest.raises(RecipientMovedError) as moved:
        await telegram.send(make_alert(), telegram_recipient(GROUP))
    await telegram.send(make_alert(), telegram_recipient(int(moved.value.new_address)))

    assert moved.value.new_address == str(SUPERGROUP)
    assert tg.messages(GROUP) == []
    assert len(tg.messages(SUPERGROUP)) == 1


async def test_500_twice_is_transient_then_delivered_once(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    await telegram.start()
    tg.server_error(USER, times=2)
    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            await telegram.send(make_alert(), telegram_recipient(USER))
    await telegram.send(make_alert(), telegram_recipient(USER))

    assert [c.status for c in sends(tg, USER)] == [500, 500, 200]
    assert len(tg.messages(USER)) == 1


async def test_an_nginx_502_page_is_transient(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    tg.server_error(USER, status=502)
    with pytest.raises(TransientDeliveryError):
        await telegram.send(make_alert(), telegram_recipient(USER))


async def test_api_down_is_transient(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    await telegram.send(make_alert(), telegram_recipient(USER))
    with tg.down(), pytest.raises(TransientDeliveryError):
        await telegram.send(make_alert(), telegram_recipient(USER))
    await telegram.send(make_alert(), telegram_recipient(USER))
    assert len(tg.messages(USER)) == 2


async def test_a_timeout_after_delivery_is_transient(tg: TelegramEmulator, make_alert: MakeAlert):
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url, timeout_s=0.5)
    await channel.start()
    tg.deliver_then_hang(USER, hang_s=1.5)
    try:
        with pytest.raises(TransientDeliveryError, match="timed out"):
            await channel.send(make_alert(), telegram_recipient(USER))
    finally:
        await channel.aclose()
    assert len(tg.messages(USER)) == 1  # it did arrive: the outbox's retry may duplicate it


async def test_unparsable_html_is_resent_as_the_same_text_in_plain(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    refused = objects.PARSE_ENTITIES + "Can't find end of the entity starting at byte offset 9"
    tg.add_fault(USER, Fault("error", 400, refused, times=1, methods=ONLY_SEND))

    ref = await telegram.send(make_alert(), telegram_recipient(USER))

    [html_try, plain_try] = sends(tg, USER)
    assert (html_try.status, plain_try.status) == (400, 200)
    assert plain_try.params.get("parse_mode") in (None, "")
    [message] = tg.messages(USER)
    assert ref == f"{USER}:{message.message_id}"
    assert message.entities == ()
    assert message.text.startswith("🔔 Ferries · Batam\nFerry line to Batam opens in March")
    assert telegram.counters.plain_fallbacks == 1


async def test_message_too_long_is_cut_harder_once_then_rejected(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    long_alert = make_alert(title="t" * 250, matches=(AlertMatch("W", ("x",), "word " * 900, ()),))
    tg.add_fault(USER, Fault("error", 400, objects.TOO_LONG, times=1, methods=ONLY_SEND))
    await telegram.send(long_alert, telegram_recipient(USER))
    assert utf16_len(tg.messages(USER)[0].text) <= 2048
    assert telegram.counters.recut == 1

    tg.add_fault(USER, Fault("error", 400, objects.TOO_LONG, times=2, methods=ONLY_SEND))
    with pytest.raises(MessageRejectedError):
        await telegram.send(long_alert, telegram_recipient(USER))
    assert len(tg.messages(USER)) == 1


async def test_any_other_bad_request_rejects_that_message_only(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    tg.add_fault(USER, Fault("error", 400, "Bad Request: BUTTON_URL_INVALID", times=1))
    with pytest.raises(MessageRejectedError):
        await telegram.send(make_alert(), telegram_recipient(USER))
    await telegram.send(make_alert(), telegram_recipient(USER))
    assert len(tg.messages(USER)) == 1


# -- length and injection ------------------------------------------------------------------


async def test_the_4096_limit_holds_at_the_emulator(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    matches = tuple(
        AlertMatch(f"list {n}", ("x",), f"{n} " + "&<b>😀 " * 200, ((0, 5),)) for n in range(8)
    )
    await telegram.send(make_alert(title="🔥" * 3000, matches=matches), telegram_recipient(USER))

    [message] = tg.messages(USER)
    assert 4000 < utf16_len(message.text) <= 4096
    assert tg.requests(status=400) == []
    assert telegram.counters.plain_fallbacks == telegram.counters.recut == 0


async def test_hostile_titles_arrive_literally(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    titles = [
        "<script>alert('x')</script>",
        "Fish & chips &amp; &lt;b&gt;",
        "closing </b></a> early",
        "right-to-left \u202eevil\u202c override",
        "x" * 298 + "😀 the emoji straddles the cut",
    ]
    for title in titles:
        await telegram.send(make_alert(title=title), telegram_recipient(USER))

    shown = [m.text.split("\n")[1] for m in tg.messages(USER)]
    assert shown[:3] == titles[:3]
    assert shown[3] == "right-to-left evil override"
    assert shown[4] == "x" * 298 + "…"
    assert tg.requests(status=400) == []


def test_the_emulator_never_reports_a_parse_error_whatever_the_feed_says():
    with TelegramEmulator() as tg, asyncio.Runner() as runner:
        channel = TelegramChannel(tg.token, api_base_url=tg.base_url)
        sent = 0

        @settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(title=feed_text, snippet=feed_text, source=feed_text, outlet=feed_text)
        def deliver(title: str, snippet: str, source: str, outlet: str) -> None:
            nonlocal sent
            spans = ((0, len(snippet) // 2), (len(snippet) // 3, len(snippet)))
            alert = build_alert(
                title=title,
                source=source,
                matches=(AlertMatch(outlet or "W", ("t",), snippet, spans),),
                also_reported_by=(outlet,),
            )
            runner.run(channel.send(alert, telegram_recipient(USER)))
            sent += 1

        try:
            deliver()
        finally:
            runner.run(channel.aclose())
        assert tg.requests("sendMessage", status=400) == []
        assert len(tg.messages(USER)) == sent
        assert channel.counters.plain_fallbacks == 0


async def test_first_sends_to_many_chats_at_once_initialise_the_bot_once(
    tg: TelegramEmulator, make_alert: MakeAlert
):
    # A generous timeout: 20 simultaneous connects can overflow the emulator's listen
    # backlog on a loaded machine, and a dropped SYN is retried only after a second.
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url, timeout_s=10.0)
    chats = range(7000, 7020)
    try:
        await asyncio.gather(*(channel.send(make_alert(), telegram_recipient(c)) for c in chats))
    finally:
        await channel.aclose()
    assert len(tg.requests("getMe")) == 1
    assert all(len(tg.messages(c)) == 1 for c in chats)


@pytest.mark.parametrize("timedelta_mode", [True, False])
def test_retry_after_is_read_as_seconds_in_both_ptb_forms(
    monkeypatch: pytest.MonkeyPatch, timedelta_mode: bool
):
    if timedelta_mode:
        monkeypatch.setenv("PTB_TIMEDELTA", "1")
    else:
        monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB itself warns while building the error
        whole, fraction = RetryAfter(17), RetryAfter(timedelta(seconds=2.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading it adds no deprecation warning
        assert retry_after_seconds(whole) == 17.0
        assert retry_after_seconds(fraction) == 2.5


# -- updates -------------------------------------------------------------------------------


async def test_an_update_edits_the_message_in_place(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    recipient = telegram_recipient(USER)
    ref = await telegram.send(make_alert(), recipient)
    more = make_alert(also_reported_by=("Coast Times", "Island Post", "Ferry Weekly"))

    assert await telegram.update(ref, more, recipient) == ref

    [message] = tg.messages(USER)
    [edit] = tg.edits(USER)
    assert "Also reported by: Coast Times, Island Post, Ferry Weekly" in edit.text
    assert message.current_text == edit.text
    assert telegram.counters.edited == 1


async def test_an_update_with_nothing_new_is_success_without_an_edit(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    recipient = telegram_recipient(USER)
    ref = await telegram.send(make_alert(), recipient)
    assert await telegram.update(ref, make_alert(), recipient) == ref
    assert tg.edits(USER) == []
    assert telegram.counters.not_modified == 1


async def test_an_update_of_a_deleted_message_sends_a_new_one(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    recipient = telegram_recipient(USER)
    ref = await telegram.send(make_alert(), recipient)
    chat, message_id = parse_ref(ref)
    await telegram.bot.delete_message(chat, message_id)

    new_ref = await telegram.update(ref, make_alert(also_reported_by=("Ferry Weekly",)), recipient)

    assert new_ref != ref
    assert [m.message_id for m in tg.messages(USER)] == [1, 2]
    assert telegram.counters.replaced == 1


async def test_an_update_after_a_migration_goes_to_the_new_chat(
    tg: TelegramEmulator, telegram: TelegramChannel, make_alert: MakeAlert
):
    ref = await telegram.send(make_alert(), telegram_recipient(GROUP))
    tg.migrate(GROUP, SUPERGROUP)
    more = make_alert(also_reported_by=("Ferry Weekly",))

    with pytest.raises(RecipientMovedError):
        await telegram.update(ref, more, telegram_recipient(GROUP))
    new_ref = await telegram.update(ref, more, telegram_recipient(SUPERGROUP))

    assert new_ref == f"{SUPERGROUP}:1"
    assert "Ferry Weekly" in tg.messages(SUPERGROUP)[0].text


async def test_a_malformed_ref_is_rejected(telegram: TelegramChannel, make_alert: MakeAlert):
    with pytest.raises(MessageRejectedError):
        await telegram.update("not-a-ref", make_alert(), telegram_recipient(USER))


# -- digests -------------------------------------------------------------------------------


async def test_a_digest_is_split_only_at_the_limit(tg: TelegramEmulator, telegram: TelegramChannel):
    alerts = tuple(
        build_alert(
            delivery_id=n,
            title=f"Story {n} on the ferries",
            published=PUBLISHED + timedelta(minutes=n),
            matches=(AlertMatch(("Ferries", "Batam")[n % 2], ("x",), "word " * 40, ((0, 4),)),),
        )
        for n in range(90)
    )
    digest = Digest(f"telegram:{USER}", alerts, PUBLISHED, PUBLISHED + timedelta(days=1), "daily")

    refs = await telegram.send_digest(digest, telegram_recipient(USER))

    received = tg.messages(USER)
    assert len(refs) == len(received) > 1
    assert all(utf16_len(m.text) <= 4096 for m in received)
    text = "\n".join(m.text for m in received)
    assert all(text.count(f"Story {n} on") == 1 for n in range(90))


# -- secrets -------------------------------------------------------------------------------


async def test_the_token_never_reaches_the_logs_or_our_errors(
    tg: TelegramEmulator, make_alert: MakeAlert, caplog: pytest.LogCaptureFixture
):
    for name in ("httpx", "httpcore", "telegram", "telegram.Bot"):
        caplog.set_level(logging.DEBUG, logger=name)
    channel = TelegramChannel(tg.token, api_base_url=tg.base_url)
    errors: list[Exception] = []
    try:
        await channel.send(make_alert(), telegram_recipient(USER))
        tg.rate_limit(USER)
        with tg.down():
            for _ in range(2):
                try:
                    await channel.send(make_alert(), telegram_recipient(USER))
                except TransientDeliveryError as exc:
                    errors.append(exc)
    finally:
        await channel.aclose()

    assert "sendMessage" in caplog.text  # the loggers did log the requests
    secret_part = tg.token.split(":")[1]
    assert secret_part not in caplog.text
    assert len(errors) == 2
    assert all(secret_part not in repr(e) and secret_part not in str(e) for e in errors)


async def test_a_rejected_token_is_transient_and_never_quoted(
    tg: TelegramEmulator, make_alert: MakeAlert
):
    wrong = "123456789:AAwrongwrongwrongwrongwrongwrongwron"
    channel = TelegramChannel(wrong, api_base_url=tg.base_url)
    try:
        with pytest.raises(TransientDeliveryError) as rejected:
            await channel.send(make_alert(), telegram_recipient(USER))
    finally:
        await channel.aclose()
    assert rejected.value.retry_after == 300.0
    chain = [rejected.value, rejected.value.__cause__, rejected.value.__context__]
    assert all("wrongwrong" not in str(e) for e in chain if e is not None)
    assert rejected.value.__cause__ is None and rejected.value.__context__ is None


# -- factory -------------------------------------------------------------------------------


async def test_build_channels_makes_every_configured_channel_with_resolved_secrets(
    tmp_path, tg: TelegramEmulator, make_alert: MakeAlert
):
    config = write_config(
        tmp_path,
        feeds=[],
        monitor={
            "channels": {
                "telegram": {"token_env": "TG_TOKEN", "api_base_url": tg.base_url},
                "email": {"host": "127.0.0.1", "from": "Monitor <alerts@monitor.test>"},
                "webhook": {"secret_env": "HOOK_SECRET"},
            }
        },
    )
    environ = {"TG_TOKEN": tg.token, "HOOK_SECRET": "s3cret"}

    channels = build_channels(config, environ=environ)
    try:
        assert sorted(channels) == ["console", "email", "telegram", "webhook"]
        assert all(channels[name].name == name for name in channels)
        await channels["telegram"].send(make_alert(), telegram_recipient(USER))
    finally:
        for channel in channels.values():
            await channel.aclose()
    assert len(tg.messages(USER)) == 1
    assert tg.token not in repr(channels)

    with pytest.raises(ConfigError, match="TG_TOKEN"):
        build_channels(config, environ={"HOOK_SECRET": "s3cret"})
