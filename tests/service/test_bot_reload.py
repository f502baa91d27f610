"""The bot under a live reload and beside a second instance on the same database."""

from __future__ import annotations

from monitor.service.reload import config_diff
from monitor.service.runtime import Runtime
from tests.bot.conftest import USER, BotWorld
from tests.bot.conftest import tg as tg
from tests.bot.conftest import world as world

STRANGER = 4444


async def test_access_and_yaml_watchlists_change_live_and_personal_ones_stay(
    world: BotWorld,
) -> None:
    rt = await world.open({"access": "allowlist", "allowed_users": [USER]})
    await world.say(USER, "/watch quay quay")
    assert (await world.say(STRANGER, "/start"))[0].startswith("This bot is private.")
    new = world.config({"access": "open"})
    await rt.apply_config(new, config_diff(rt.config, new))
    assert (await world.say(STRANGER, "/subscribe Starlink"))[0].startswith("Subscribed")
    assert "~telegram:4242/quay" in rt.matcher.names  # recompiled with the personal ones

    off = world.config({"enabled": False})
    await rt.apply_config(off, config_diff(rt.config, off))
    assert rt.bot is None
    assert f"telegram:{STRANGER}" not in rt.recipients
    assert "~telegram:4242/quay" not in rt.matcher.names
    on = world.config({"access": "open"})
    await rt.apply_config(on, config_diff(rt.config, on))
    assert rt.bot is not None and rt.bot_running
    assert rt.recipients[f"telegram:{STRANGER}"].watchlists == ("Starlink",)
    assert (await world.say(STRANGER, "/mine"))[0].startswith("This chat")


async def test_a_second_instance_picks_up_what_the_bot_changed(world: BotWorld) -> None:
    await world.open()
    other = await Runtime.open(world.config())  # same database, its bot not polling
    try:
        await world.say(USER, "/subscribe Starlink")
        await world.say(USER, "/watch quay quay")
        assert f"telegram:{USER}" not in other.recipients
        assert other.directory is not None
        assert await other.directory.refresh()  # what its directory watch does every 15 s
        assert other.recipients[f"telegram:{USER}"].watchlists == ("Starlink",)
        assert "~telegram:4242/quay" in other.matcher.names
        assert not await other.directory.refresh()  # nothing moved: nothing reloaded
    finally:
        await other.aclose()
