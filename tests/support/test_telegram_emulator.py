"""The Telegram emulator is faithful enough for python-telegram-bot: answers, errors, updates."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.support.telegram_emulator import (
    EntityParseError,
    RateLimits,
    TelegramEmulator,
    max_in_window,
    parse_html,
)

USER = 4242
GROUP = -100777


@pytest.fixture
def tg() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(tg: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url) as client:
        yield client


def buttons(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in pairs]])


# -- Telegram HTML -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "wording"),
    [
        ("<p>story</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("Ölpreis <br> steigt", 'Unsupported start tag "br" at byte offset 9'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("tail <b", "Unclosed start tag at byte offset 5"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>cut before the end", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<</b>", 'Unsupported start tag "</b" at byte offset 0'),
    ],
)
def test_html_errors_carry_telegrams_wording_and_byte_offsets(markup: str, wording: str):
    with pytest.raises(EntityParseError) as error:
        parse_html(markup)
    assert str(error.value) == wording


def test_html_visible_text_and_entities_in_utf16_units():
    parsed = parse_html(
        '😀 <b>Bold <i>both</i></b> <a href="https://news.test/a?x=1&amp;y=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre> &lt;tag&gt; &#8364;'
    )
    assert parsed.text == "😀 Bold both link x = 1 <tag> €"
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == [
        ("bold", 3, 9),  # the emoji counts as two UTF-16 units
        ("italic", 8, 4),
        ("text_link", 13, 4),
        ("pre", 18, 5),
    ]
    assert parsed.entities[2]["url"] == "https://news.test/a?x=1&y=2"
    assert parsed.entities[3]["language"] == "python"


def test_strict_mode_refuses_what_telegram_would_show_literally():
    with pytest.raises(EntityParseError, match="strict mode"):
        parse_html("AT&T &nbsp;")
    assert parse_html("AT&T &nbsp;", strict=False).text == "AT&T &nbsp;"


def test_max_in_window_counts_any_sliding_window():
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.6, 5.0], 1.0) == 3
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1
    assert max_in_window([], 60.0) == 0


# -- sending ------------------------------------------------------------------------------


async def test_sent_and_edited_messages_are_recorded_as_the_user_sees_them(
    tg: TelegramEmulator, bot: Bot
):
    markup = buttons(("Mute", "mute:floods"))
    sent = await bot.send_message(
        USER,
        "<b>Floods</b> &amp; storms",
        parse_mode="HTML",
        reply_markup=markup,
        disable_web_page_preview=True,
    )
    assert (sent.text, sent.chat.type, sent.to_dict()["from"]["username"]) == (
        "Floods & storms",
        "private",
        "monitor_test_bot",
    )
    assert sent.reply_markup == markup
    edited = await bot.edit_message_text(
        "<b>Floods</b> &amp; storms (also: 2 outlets)",
        chat_id=USER,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert not isinstance(edited, bool) and edited.edit_date is not None

    [received] = tg.messages(USER)
    assert (received.message_id, received.text, received.parse_mode) == (
        sent.message_id,
        "Floods & storms",
        "HTML",
    )
    assert received.raw_text == "<b>Floods</b> &amp; storms"
    assert received.entities == ({"type": "bold", "offset": 0, "length": 6},)
    assert received.link_preview == {"is_disabled": True}
    assert received.current_text == "Floods & storms (also: 2 outlets)"
    [edit] = tg.edits(USER, sent.message_id)
    assert edit.at >= received.at
    assert [c.method for c in tg.requests(chat_id=USER)] == ["sendMessage", "editMessageText"]

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "<b>Floods</b> &amp; storms (also: 2 outlets)",
            chat_id=USER,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_invalid_html_and_overlong_text_are_rejected_and_not_delivered(
    tg: TelegramEmulator, bot: Bot
):
    with pytest.raises(BadRequest, match='unsupported start tag "script" at byte offset 0'):
        await bot.send_message(USER, "<script>x</script>", parse_mode="HTML")
    await bot.send_message(USER, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")  # tags not counted
    await bot.send_message(USER, "😀" * 2048)  # 4096 UTF-16 units
    for too_long in ("a" * 4097, "😀" * 2049):
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(USER, too_long)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=buttons(("b", "d" * 65)))

    assert len(tg.messages(USER)) == 2
    assert len(tg.requests("sendMessage", status=400)) == 5


async def test_programmed_faults_map_to_ptb_exceptions(tg: TelegramEmulator, bot: Bot):
    tg.rate_limit(USER, retry_after=5, times=1)
    tg.block(7)
    tg.migrate(-555, -100555)
    tg.forget_chat(8)

    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "first")
    await bot.send_message(USER, "second")  # only the next call was limited
    await bot.send_message(USER + 1, "another chat is not stalled")
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(7, "x")
    with pytest.raises(ChatMigrated) as moved:
        await bot.send_message(-555, "x")
    assert moved.value.new_chat_id == -100555
    await bot.send_message(-100555, "to the supergroup")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(8, "x")

    assert [m.text for m in tg.all_messages()] == [
        "second",
        "another chat is not stalled",
        "to the supergroup",
    ]
    [limited] = tg.requests("sendMessage", status=429)
    assert limited.description == "Too Many Requests: retry after 5"
    tg.clear_faults(7)
    await bot.send_message(7, "unblocked")


async def test_server_errors_hangs_and_outages(tg: TelegramEmulator):
    tg.server_error(USER, times=2)
    tg.server_error(USER + 1, status=502)
    tg.deliver_then_hang(USER + 2, hang_s=5.0)
    async with Bot(tg.token, base_url=tg.base_url, request=HTTPXRequest(read_timeout=0.3)) as bot:
        for _ in range(2):
            with pytest.raises(NetworkError, match="Internal Server Error"):
                await bot.send_message(USER, "x")
        await bot.send_message(USER, "after two 500s")
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER + 1, "x")
        with pytest.raises(TimedOut):
            await bot.send_message(USER + 2, "delivered, answer lost")
        assert [m.text for m in tg.messages(USER + 2)] == ["delivered, answer lost"]

        port = tg.port
        with tg.down(), pytest.raises(NetworkError):
            await bot.send_message(USER, "while down")
        assert tg.port == port
        await bot.send_message(USER, "back up")
    assert [m.text for m in tg.messages(USER)] == ["after two 500s", "back up"]


async def test_apply_faults_reads_the_battery_notation(tg: TelegramEmulator, bot: Bot):
    tg.apply_faults({USER: {"retry_after": 3, "times": 2}, 7: {"blocked": True}})
    for _ in range(2):
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "x")
    await bot.send_message(USER, "third try")
    with pytest.raises(Forbidden):
        await bot.send_message(7, "x")


async def test_wrong_token_is_rejected(tg: TelegramEmulator):
    for token in ("123456:unknown-but-well-formed", "malformed"):
        with pytest.raises(InvalidToken):
            async with Bot(token, base_url=tg.base_url):
                pass
    assert [c.status for c in tg.requests("getMe")] == [401, 404]


def test_json_form_and_query_string_requests_are_all_understood(tg: TelegramEmulator):
    url = f"{tg.base_url}{tg.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "Open", "url": "https://news.test/a"}]]}
    with httpx.Client() as client:
        as_json = client.post(url, json={"chat_id": USER, "text": "j", "reply_markup": markup})
        as_form = client.post(
            url, data={"chat_id": str(USER), "text": "f", "reply_markup": json.dumps(markup)}
        )
        as_query = client.get(url, params={"chat_id": str(USER), "text": "q"})
        unknown = client.post(f"{tg.base_url}{tg.token}/sendTelepathy", json={})
    assert [r.json()["result"]["text"] for r in (as_json, as_form, as_query)] == ["j", "f", "q"]
    assert tg.messages(USER)[1].reply_markup == markup
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_enforced_limits_catch_a_naive_sender(tg: TelegramEmulator, bot: Bot):
    # Long windows keep the test independent of how fast this machine is.
    tg.enforce_limits(RateLimits(per_chat=1, per_chat_window_s=30, overall=5, overall_window_s=30))
    await bot.send_message(USER, "1")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "2")
    for chat in (USER + 1, USER + 2, USER + 3, USER + 4):
        await bot.send_message(chat, "fan-out")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER + 5, "sixth in the window")

    tg.enforce_limits(RateLimits(per_chat=100, per_group=3, overall=100))
    for _ in range(3):
        await bot.send_message(GROUP, "group")
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "fourth this minute")

    waits = [c.description for c in tg.requests("sendMessage", status=429)]
    assert len(waits) == 3
    assert re.fullmatch(r"Too Many Requests: retry after (29|30)", str(waits[0]))
    assert re.fullmatch(r"Too Many Requests: retry after (5\d|60)", str(waits[2]))
    report = tg.rates()
    assert report.messages == 8
    assert report.max_per_group_per_minute == 3


# -- updates ------------------------------------------------------------------------------


async def test_long_poll_offsets_and_allowed_updates(tg: TelegramEmulator, bot: Bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    later = asyncio.get_running_loop().call_later(0.2, tg.user_message, USER, "/start floods")
    started = time.monotonic()
    [first] = await bot.get_updates(timeout=5)
    assert time.monotonic() - started < 2  # answered as soon as the update came
    later.cancel()
    message = first.to_dict()["message"]
    assert message["text"] == "/start floods"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": len("/start")}]

    tg.user_message(USER, "hello")
    again = await bot.get_updates()
    assert [u.update_id for u in again] == [first.update_id, first.update_id + 1]
    confirmed = await bot.get_updates(offset=first.update_id + 1)
    assert [u.to_dict()["message"]["text"] for u in confirmed] == ["hello"]

    tg.user_message(USER, "filtered out")
    sent = await bot.send_message(USER, "pick", reply_markup=buttons(("Mute", "mute")))
    tg.press_button(USER, sent.message_id, "mute")
    only_buttons = await bot.get_updates(
        offset=confirmed[-1].update_id + 1, allowed_updates=["callback_query"]
    )
    [press] = only_buttons
    query = press.callback_query
    assert query is not None and query.message is not None
    assert (query.data, query.message.message_id) == ("mute", sent.message_id)
    assert await query.answer("Muted") is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("twice")
    assert [a.text for a in tg.callback_answers()] == ["Muted"]


async def test_a_second_poller_terminates_the_first_with_409(tg: TelegramEmulator, bot: Bot):
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for_async(lambda: bool(tg.api.bots[tg.token].updates.poll))
    async with Bot(tg.token, base_url=tg.base_url) as second:
        assert await second.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first

    tg.api.conflict = "reject_new"
    first = asyncio.create_task(bot.get_updates(timeout=1))
    await tg.wait_for_async(lambda: bool(tg.api.bots[tg.token].updates.poll))
    async with Bot(tg.token, base_url=tg.base_url) as second:
        with pytest.raises(Conflict):
            await second.get_updates(timeout=0)
    assert await first == ()


async def test_active_webhook_blocks_get_updates(tg: TelegramEmulator, bot: Bot):
    tg.user_message(USER, "pending")
    assert await bot.set_webhook("https://hooks.monitor.test/tg") is True
    assert (await bot.get_webhook_info()).pending_update_count == 1
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.get_updates() == ()


async def test_groups_members_channels_and_commands(tg: TelegramEmulator, bot: Bot):
    tg.add_chat(GROUP, title="Newsroom", username="newsroom")
    tg.add_chat(-1009, "channel", title="Wire")
    tg.set_member(GROUP, 1, "creator")
    tg.set_member(GROUP, 2, "administrator")
    tg.set_member(GROUP, 3, "member")
    tg.set_member(GROUP, 4, "restricted")
    tg.set_member(GROUP, 5, "kicked")
    statuses = [(await bot.get_chat_member(GROUP, u)).status for u in range(1, 7)]
    assert statuses == ["creator", "administrator", "member", "restricted", "kicked", "left"]
    assert len(await bot.get_chat_administrators(GROUP)) == 2
    assert (await bot.get_chat("@newsroom")).title == "Newsroom"

    tg.user_message(GROUP, "/subscribe@monitor_test_bot floods", from_user=3)
    tg.anonymous_admin_message(GROUP, "/unsubscribe floods")
    tg.channel_post(-1009, "wire story")
    tg.bot_membership(GROUP, "administrator", old_status="member", by_user=1)
    command, anonymous, post, membership = [u.to_dict() for u in await bot.get_updates()]
    assert command["message"]["entities"][0]["length"] == len("/subscribe@monitor_test_bot")
    assert command["message"]["from"]["id"] == 3
    assert anonymous["message"]["sender_chat"]["id"] == GROUP
    assert anonymous["message"]["from"]["username"] == "GroupAnonymousBot"
    assert post["channel_post"]["sender_chat"]["type"] == "channel"
    assert membership["my_chat_member"]["new_chat_member"]["status"] == "administrator"

    await bot.set_my_commands([BotCommand("subscribe", "Follow a watchlist")])
    assert [c.command for c in await bot.get_my_commands()] == ["subscribe"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_ptb_application_starts_polls_and_replies(tg: TelegramEmulator):
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await update.effective_chat.send_message(f"watching {' '.join(context.args or [])}")

    app = Application.builder().token(tg.token).base_url(tg.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1, drop_pending_updates=True)
        tg.user_message(USER, "/start floods")
        assert await tg.wait_for_async(lambda: len(tg.messages(USER)) == 1)
        await app.updater.stop()
        await app.stop()

    assert tg.messages(USER)[0].text == "watching floods"
    assert tg.requests("deleteWebhook")
    assert not tg.requests("getUpdates", status=409)
