"""Quotas on stored rows, limits on personal queries, and a flood that stays cheap."""

from __future__ import annotations

import itertools
import time

from tests.bot.conftest import OTHER, USER, BotWorld, buttons
from tests.support.configs import item

QUOTAS = {
    "subscriptions": 2,
    "watchlists": 1,
    "query_length": 40,
    "query_parts": 5,
    "mutes": 1,
}


async def test_quotas_on_subscriptions_watchlists_and_mutes(world: BotWorld) -> None:
    await world.open({"quotas": QUOTAS})
    await world.say(USER, "/subscribe Starlink")
    await world.say(USER, "/subscribe Kiriyenko")
    assert await world.say(USER, "/subscribe Ferries") == [
        "This chat already has 2 subscriptions (the limit is 2)."
    ]
    assert world.scalar("SELECT count(*) FROM bot_subscription") == 2

    assert (await world.say(USER, "/watch quay quay"))[0].startswith("Watching quay")
    assert await world.say(USER, "/watch pier pier") == [
        "This chat already has 1 watchlists of its own (the limit is 1)."
    ]
    assert (await world.say(USER, "/watch quay quay OR pier"))[0].startswith("Changed quay")
    assert world.scalar("SELECT count(*) FROM bot_watchlist") == 1

    assert (await world.say(USER, "/mute Starlink 1h"))[0].startswith("Starlink is muted")
    assert (await world.say(USER, "/mute Starlink 2h"))[0].startswith("Starlink is muted")
    assert await world.say(USER, "/mute Kiriyenko 1h") == [
        "This chat already has 1 mutes (the limit is 1)."
    ]


async def test_personal_queries_get_the_bots_tighter_limits(world: BotWorld) -> None:
    await world.open({"quotas": QUOTAS})
    (long,) = await world.say(USER, "/watch long " + "harbour " * 8)
    assert "the query is longer than 40 characters" in long
    (wide,) = await world.say(USER, "/watch wide a1 OR b2 OR c3 OR d4 OR e5 OR f6")
    assert wide.startswith("The query cannot be used") and "over 5 parts" in wide
    (deep,) = await world.say(USER, "/watch deep ((((((((quay))))))))")
    assert "nests deeper than 6 levels" in deep
    (fuzzy,) = await world.say(USER, "/watch fz quay~ pier~ dock~ port~")
    assert "too many fuzzy terms" in fuzzy
    (regex,) = await world.say(USER, "/watch re (a+)+$")
    assert regex.startswith("The query cannot be used")  # A05: never a regular expression
    assert world.scalar("SELECT count(*) FROM bot_watchlist") == 0


async def test_a_flood_of_commands_is_dropped_in_memory(world: BotWorld) -> None:
    """A04: 500 /subscribe in a burst from one user: throttled, rows within the quota."""
    await world.open({"commands_per_minute": 10, "quotas": QUOTAS})
    feed_hits = world.feeds.hits
    started = time.monotonic()
    updates = [world.tg.user_message(USER, "/subscribe Starlink") for _ in range(500)]
    await world.handled(updates[-1], timeout=20.0)
    took = time.monotonic() - started
    texts = [m.text for m in world.tg.messages(USER)]
    assert texts.count("Subscribed: alerts of Starlink come to this chat.") == 1
    assert texts.count("Already subscribed to Starlink.") == 9  # the rest of the 10 allowed
    assert sum(t.startswith("You are sending commands too fast") for t in texts) == 1
    assert len(texts) == 11  # 489 commands dropped without a word
    assert world.scalar("SELECT count(*) FROM bot_update") == 10  # 10 handled, 490 never stored
    assert world.scalar("SELECT count(*) FROM bot_subscription") == 1
    assert world.feeds.hits == feed_hits  # no outbound fetch storm
    assert world.bot.ctx.rate.dropped == 490
    assert took < 15.0
    print(
        f"A04: 500 commands in a burst handled in {took:.2f} s: 10 acted on, 490 dropped, "
        f"{len(texts)} replies, 1 subscription row, 0 feed fetches"
    )


async def test_a_flood_of_button_presses_is_answered_but_not_acted_on(world: BotWorld) -> None:
    await world.open({"commands_per_minute": 3})
    await world.say(USER, "/subscribe Starlink")
    await world.poll_and_send()
    world.add_item("a", item(2, "Starlink over the bay"))
    await world.poll_and_send()
    (alert,) = world.alerts(USER)
    data = buttons(alert)["👎 Not relevant"]
    for _ in range(5):
        await world.handled(world.tg.press_button(USER, alert.message_id, data))
    answers = [a.text for a in world.tg.callback_answers()]
    assert answers.count("Too many requests: wait a little.") == 3  # 3 tokens: 1 command + 2
    assert len(answers) == 5  # every press answered: no client spins
    assert world.scalar("SELECT count(*) FROM bot_feedback") == 1


async def test_replies_keep_telegrams_pace_per_chat_without_holding_up_other_chats(
    world: BotWorld,
) -> None:
    await world.open(extra={"delivery": {"telegram": {"per_chat_per_second": 1}}})
    started = time.monotonic()
    for _ in range(4):
        world.tg.user_message(USER, "/help")
    world.tg.user_message(OTHER, "/help")
    assert await world.tg.wait_for_async(lambda: len(world.tg.messages(OTHER)) == 1, 3.0)
    other_took = time.monotonic() - started
    assert await world.tg.wait_for_async(lambda: len(world.tg.messages(USER)) == 4, 10.0)
    times = [m.at for m in world.tg.messages(USER)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.95  # one message a second to one chat, replies included
    assert other_took < 1.5  # another chat does not wait behind that queue
    assert world.tg.rates().max_per_chat_per_second == 1
