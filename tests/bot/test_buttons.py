"""The buttons under alerts: mute the story, mute the outlet, not relevant, all sources.

Alerts come from the real pipeline (local feed server -> runtime -> outbox -> emulator);
presses are queued at the emulator; what chats see afterwards is read there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.bot.buttons import ButtonCodec
from monitor.cli import main
from tests.bot.conftest import GROUP, OTHER, USER, BotWorld, buttons
from tests.support.configs import item
from tests.support.telegram_emulator import objects

LABELS = ["🔕 Mute this story", "🔇 Mute this outlet", "👎 Not relevant", "📰 All sources"]
SHARED = {
    "title": "Starlink terminals reach the outer islands",
    "description": (
        "Fishing cooperatives on the outer islands received Starlink terminals on Tuesday, "
        "bringing the first steady internet link to the harbour offices and the school."
    ),
}


def shared_story(n: int) -> dict[str, str]:
    """The same news under another outlet's URL: clustering joins it to one story."""
    return {
        **SHARED,
        "link": f"http://example.test/outlet{n}/islands",
        "guid": f"islands-{n}",
        "date": "Wed, 25 Nov 2026 10:00:00 +0000",
    }


async def subscribed(world: BotWorld, *chats: int) -> None:
    await world.open()
    for chat in chats:
        await world.say(chat, "/subscribe Starlink")
    await world.poll_and_send()  # the feeds' baseline


async def test_alerts_carry_four_small_signed_buttons(world: BotWorld) -> None:
    await subscribed(world, USER)
    world.add_item("a", item(2, "Starlink over the bay"))
    await world.poll_and_send()
    (alert,) = world.alerts(USER)
    keyboard = buttons(alert)
    assert list(keyboard) == LABELS
    codec = ButtonCodec.for_token(world.tg.token)
    presses = [codec.decode(data) for data in keyboard.values()]
    assert [p.action for p in presses if p] == ["s", "o", "n", "a"]
    delivery = world.scalar("SELECT id FROM delivery WHERE recipient = :r", r=f"telegram:{USER}")
    assert {p.number for p in presses if p} == {delivery}
    assert max(len(d.encode()) for d in keyboard.values()) <= 64


async def test_mute_this_story_stops_its_updates_and_alerts_in_that_chat_only(
    world: BotWorld,
) -> None:
    await subscribed(world, USER, OTHER)
    world.add_item("a", shared_story(1))
    await world.poll_and_send()
    (mine,) = world.alerts(USER)
    assert len(world.alerts(OTHER)) == 1
    answer = await world.press(USER, mine.message_id, buttons(mine)["🔕 Mute this story"])
    assert answer.text == "Muted: no more alerts or updates about this story here."

    world.add_item("b", shared_story(2))  # another outlet carries the same story
    await world.poll_and_send()
    assert world.scalar("SELECT count(*) FROM story") == 2  # item 1 and the shared story
    await asyncio.sleep(1.1)  # delivery.update_interval is 1 s in these tests
    await world.rt.sender.send_due()
    assert "Island Post" in world.tg.messages(OTHER)[-1].current_text  # updated there
    assert world.tg.edits(USER) == []  # not here
    assert len(world.alerts(USER)) == 1
    updates = world.scalar(
        "SELECT update_due_at FROM delivery WHERE recipient = :r", r=f"telegram:{USER}"
    )
    assert updates is None


async def test_mute_this_outlet_silences_that_feed_for_that_chat(world: BotWorld) -> None:
    await subscribed(world, USER, OTHER)
    world.add_item("a", item(2, "Starlink over the bay"))
    await world.poll_and_send()
    (alert,) = world.alerts(USER)
    answer = await world.press(USER, alert.message_id, buttons(alert)["🔇 Mute this outlet"])
    assert answer.text == (
        "Muted: Coast Times will not alert this chat. /unmute Coast Times undoes it."
    )
    world.add_item("a", item(3, "Starlink over the hills"))  # the muted outlet
    world.add_item("b", item(4, "Starlink over the sea"))  # another outlet
    await world.poll_and_send()
    assert ["Story number 4" in m.text for m in world.alerts(USER)] == [False, True]
    assert len(world.alerts(OTHER)) == 3
    assert "feed Coast Times" in (await world.say(USER, "/mine"))[0]
    assert await world.say(USER, "/unmute coast times") == ["Coast Times is not muted any more."]
    world.add_item("a", item(5, "Starlink over the river"))
    await world.poll_and_send()
    assert len(world.alerts(USER)) == 3


async def test_not_relevant_is_stored_once_and_replay_counts_it(
    world: BotWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    await subscribed(world, USER, OTHER)
    world.add_item("a", item(2, "Starlink over the bay"))
    world.add_item("a", item(3, "Starlink over the hills"))
    await world.poll_and_send()
    first = world.alerts(USER)[0]
    data = buttons(first)["👎 Not relevant"]
    answer = await world.press(USER, first.message_id, data)
    assert answer.text == "Thanks: noted as not relevant for Starlink."
    await world.press(USER, first.message_id, data)  # pressed twice
    await world.press(
        OTHER, world.alerts(OTHER)[0].message_id, buttons(world.alerts(OTHER)[0])["👎 Not relevant"]
    )
    assert world.scalar("SELECT count(*) FROM bot_feedback") == 2  # story x watchlist x chat
    assert world.scalar("SELECT count(DISTINCT story_id) FROM bot_feedback") == 1

    config = Path(world.rt.config.directory)
    code = main(["replay", "--watchlist", "Starlink", "--since", "1d", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert 'feedback: 1 story marked "Not relevant"' in out
    assert "precision signal: 50% of the 2 matched stories unmarked" in out
    assert "the replayed query still matches 1 of them" in out
    code = main(
        ["replay", "--watchlist", "Starlink", "--since", "1d", "--config", str(config),
         "--query", "Starlink AND hills"]
    )  # fmt: skip
    assert "still matches 0 of them" in capsys.readouterr().out


async def test_all_sources_lists_every_outlet_with_its_link(world: BotWorld) -> None:
    await subscribed(world, USER)
    world.add_item("a", shared_story(1))
    await world.poll_and_send()
    world.add_item("b", shared_story(2))
    await world.poll_and_send()
    (alert,) = world.alerts(USER)
    before = len(world.tg.messages(USER))
    answer = await world.press(USER, alert.message_id, buttons(alert)["📰 All sources"])
    assert answer.text is None
    (sources,) = world.tg.messages(USER)[before:]
    assert sources.text.startswith("All sources: Starlink terminals reach the outer islands")
    assert "• Coast Times: Starlink terminals" in sources.text
    assert "• Island Post: Starlink terminals" in sources.text
    links = [e["url"] for e in sources.entities if e["type"] == "text_link"]
    assert links == ["http://example.test/outlet1/islands", "http://example.test/outlet2/islands"]


async def test_in_a_group_only_admins_mute_but_anyone_may_give_feedback(
    world: BotWorld,
) -> None:
    await world.open()
    world.tg.set_member(GROUP, OTHER, "administrator")
    await world.say(GROUP, "/subscribe Starlink", from_user=OTHER)
    await world.poll_and_send()
    world.add_item("a", item(2, "Starlink over the bay"))
    await world.poll_and_send()
    (alert,) = world.alerts(GROUP)
    keyboard = buttons(alert)
    refused = await world.press(
        GROUP, alert.message_id, keyboard["🔕 Mute this story"], from_user=USER
    )
    assert refused.text == "Only this chat's administrators can mute its alerts."
    assert world.scalar("SELECT count(*) FROM bot_mute") == 0
    noted = await world.press(GROUP, alert.message_id, keyboard["👎 Not relevant"], from_user=USER)
    assert (noted.text or "").startswith("Thanks")
    muted = await world.press(
        GROUP, alert.message_id, keyboard["🔕 Mute this story"], from_user=OTHER
    )
    assert (muted.text or "").startswith("Muted")


async def test_forged_and_foreign_button_data_do_nothing(world: BotWorld) -> None:
    await subscribed(world, USER, OTHER)
    world.add_item("a", item(2, "Starlink over the bay"))
    await world.poll_and_send()
    theirs = world.alerts(OTHER)[0]
    delivery = ButtonCodec.for_token(world.tg.token).decode(buttons(theirs)["🔕 Mute this story"])
    assert delivery is not None
    mine = world.alerts(USER)[0]
    signed_for_other = ButtonCodec.for_token(world.tg.token).encode("s", delivery.number)

    async def raw_press(data: str) -> str | None:
        query_id = f"q{len(world.tg.callback_answers())}"
        with world.tg.api.cond:
            world.tg.api.open_queries.add(query_id)
        payload = objects.callback_query(
            query_id=query_id,
            from_user=objects.user(USER),
            message_obj={"message_id": mine.message_id, "date": 0, "chat": objects.chat(USER),
                         "text": mine.text},
            data=data,
            chat_instance="1",
        )  # fmt: skip
        await world.handled(world.tg.enqueue("callback_query", payload))
        return world.tg.callback_answers()[-1].text

    forged = f"s:{delivery.number}:AAAAAAAAAAAA"
    assert await raw_press(forged) == "This button is not valid any more."
    assert await raw_press(signed_for_other) == "This button belongs to another chat."
    assert await raw_press("not even close") == "This button is not valid any more."
    assert world.scalar("SELECT count(*) FROM bot_mute") == 0
