"""The update poller: offset kept across restarts, retries change nothing, 409 handled."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from telegram import Bot, Update
from telegram.error import Conflict

from monitor.bot.poller import AlreadyPolling, UpdatePoller
from monitor.service.runtime import Runtime
from tests.bot.conftest import GROUP, OTHER, USER, BotWorld
from tests.support.telegram_emulator import objects


async def test_a_restart_neither_replays_nor_loses_updates(world: BotWorld) -> None:
    await world.open()
    await world.say(USER, "/start")
    offset = world.bot.poller.offset
    await world.close()
    while_down = world.tg.user_message(USER, "/subscribe Starlink")  # nobody polls now
    await world.open()
    await world.handled(while_down)
    texts = [m.text for m in world.tg.messages(USER)]
    assert sum(t.startswith("Welcome") for t in texts) == 1  # /start not replayed
    assert texts[-1] == "Subscribed: alerts of Starlink come to this chat."  # nothing lost
    first_poll = next(
        c for c in world.tg.requests("getUpdates") if c.at > 0 and c.params.get("offset")
    )
    assert first_poll.params["offset"] == (offset or 0) + 1
    assert (
        world.scalar("SELECT value FROM bot_state WHERE key = 'offset'") == while_down["update_id"]
    )


async def test_an_update_handled_twice_has_one_effect_and_one_reply(world: BotWorld) -> None:
    await world.open()
    payload = {
        "update_id": 7,
        "message": objects.message(
            message_id=1, date=0, chat=objects.chat(OTHER), text="/subscribe Ferries",
            from_user=objects.user(OTHER),
        ),
    }  # fmt: skip
    update = Update.de_json(payload, world.bot.channel.bot)
    await world.bot.handle(update)
    await world.bot.handle(update)  # a retry after a crash, or another instance got it too
    await world.bot.ctx.replier.drain()
    assert [m.text for m in world.tg.messages(OTHER)] == [
        "Subscribed: alerts of Ferries come to this chat."
    ]
    assert world.scalar("SELECT count(*) FROM bot_subscription") == 1


async def test_a_409_conflict_backs_off_and_every_command_is_handled_once(
    world: BotWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = await world.open()
    rival = Bot(world.tg.token, base_url=world.tg.base_url)
    async with rival:
        for _ in range(4):  # another process polls the same token for a while
            with contextlib.suppress(Conflict):  # each side terminates the other's poll
                await rival.get_updates(timeout=1, allowed_updates=["poll_answer"])
    update = world.tg.user_message(USER, "/start")
    await world.handled(update, timeout=30.0)
    assert world.bot.poller.conflicts >= 1
    assert world.tg.requests("getUpdates", status=409)
    assert sum(m.text.startswith("Welcome") for m in world.tg.messages(USER)) == 1
    assert all(not t.done() for t in world.bot._tasks)  # never crashed
    logged = capsys.readouterr()
    assert "bot_conflict" in logged.out + logged.err
    assert rt.bot is world.bot


async def test_one_poller_per_bot_in_a_process(world: BotWorld) -> None:
    await world.open()
    second = UpdatePoller(world.bot.channel.bot, world.rt.db, world.rt.clock, world.bot.handle)
    with pytest.raises(AlreadyPolling):
        await second.run(asyncio.Event(), world.bot.ready)


async def test_a_removed_or_blocked_bot_stops_alerts_to_that_chat(world: BotWorld) -> None:
    await world.open()
    world.tg.set_member(GROUP, OTHER, "administrator")
    await world.say(GROUP, "/subscribe Starlink", from_user=OTHER)
    await world.say(USER, "/subscribe Starlink")
    assert f"telegram:{GROUP}" in world.rt.recipients
    await world.handled(world.tg.bot_membership(GROUP, "left", old_status="member"))
    await world.handled(world.tg.bot_membership(USER, "kicked", old_status="member", by_user=USER))
    assert f"telegram:{GROUP}" not in world.rt.recipients
    assert f"telegram:{USER}" not in world.rt.recipients
    (back,) = await world.say(USER, "/start")
    assert "This chat receives: Starlink." in back
    assert world.rt.recipients[f"telegram:{USER}"].watchlists == ("Starlink",)


async def test_the_bot_waits_for_an_api_that_is_down_at_start(world: BotWorld) -> None:
    rt = await Runtime.open(world.config())
    world._rt = rt
    assert rt.bot is not None
    with world.tg.down():
        rt.start_bot()
        await asyncio.sleep(1.0)
        assert not rt.bot.started.is_set()
    await asyncio.wait_for(rt.bot.started.wait(), 10.0)  # backed off, then tried again
    assert (await world.say(USER, "/start"))[0].startswith("Welcome")
