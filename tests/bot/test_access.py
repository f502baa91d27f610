"""The three access modes and the group rules, counted in rows and in what users read."""

from __future__ import annotations

from tests.bot.conftest import ADMIN, CHANNEL, GROUP, OTHER, USER, BotWorld, buttons

STRANGER = 4444


def rows(world: BotWorld) -> dict[str, int]:
    tables = ("bot_chat", "bot_subscription", "bot_access", "bot_update", "bot_watchlist")
    return {t: int(world.scalar(f"SELECT count(*) FROM {t}")) for t in tables}


async def test_allowlist_refuses_unknown_users_without_storing_anything(
    world: BotWorld,
) -> None:
    await world.open({"access": "allowlist", "allowed_users": [USER]})
    before = rows(world)
    for command in ("/start", "/subscribe Starlink", "/watch x starlink", "/mine"):
        (answer,) = await world.say(STRANGER, command)
        assert answer == (
            "This bot is private.\nAsk its administrator to add your Telegram id 4444."
        )
    assert rows(world) == before == dict.fromkeys(before, 0)  # A01: rows created = 0
    assert (await world.say(USER, "/subscribe Starlink"))[0].startswith("Subscribed")
    assert (await world.say(ADMIN, "/subscribe Ferries"))[0].startswith("Subscribed")  # an admin
    assert world.scalar("SELECT count(*) FROM bot_subscription") == 2
    assert "Commands" in (await world.say(STRANGER, "/help"))[0]  # help answers everyone


async def test_approval_mode_asks_the_admins_who_approve_with_a_button_or_deny_by_id(
    world: BotWorld,
) -> None:
    await world.open({"access": "approval"})
    (asked,) = await world.say(OTHER, "/start")
    assert asked.startswith("Your request was sent to the administrators.")
    assert world.scalar("SELECT status FROM bot_access WHERE principal = :p", p=OTHER) == "pending"
    (request,) = world.tg.messages(ADMIN)
    assert "User4343 (id 4343)" in request.text and "/approve 4343" in request.text
    keyboard = buttons(request)
    assert set(keyboard) == {"✅ Approve", "⛔ Deny"}
    assert await world.say(OTHER, "/subscribe Starlink") == [
        "Your request is waiting for an administrator."
    ]
    assert await world.say(OTHER, "/start") == ["Your request is waiting for an administrator."]
    assert len(world.tg.messages(ADMIN)) == 1  # asked once
    assert world.scalar("SELECT count(*) FROM bot_subscription") == 0

    answer = await world.press(ADMIN, request.message_id, keyboard["✅ Approve"])
    assert answer.text == "Approved User4343 (4343)."
    assert world.tg.messages(OTHER)[-1].text.startswith("Your access to this bot was approved.")
    assert (await world.say(OTHER, "/subscribe Starlink"))[0].startswith("Subscribed")

    await world.say(STRANGER, "/start")
    assert await world.say(ADMIN, "/deny 4444") == ["Denied User4444 (4444)."]
    assert world.tg.messages(STRANGER)[-1].text == "Your request to use this bot was refused."
    assert await world.say(STRANGER, "/subscribe Starlink") == [
        "Your access to this bot was refused."
    ]
    assert await world.say(ADMIN, "/deny 4444") == ["User4444 (4444) was already denied."]
    assert await world.say(OTHER, "/approve 4444") == [
        "This command is for the bot's administrators."
    ]
    assert (await world.say(ADMIN, "/approve x"))[0].startswith("Use /approve USER_ID")


async def test_open_mode_serves_anyone_until_an_admin_denies_them(world: BotWorld) -> None:
    await world.open({"access": "open"})
    assert (await world.say(STRANGER, "/subscribe Starlink"))[0].startswith("Subscribed")
    await world.say(ADMIN, f"/deny {STRANGER}")
    assert await world.say(STRANGER, "/mine") == ["Your access to this bot was refused."]


async def test_in_groups_only_chat_admins_change_subscriptions(world: BotWorld) -> None:
    await world.open()
    world.tg.set_member(GROUP, OTHER, "administrator")
    world.tg.set_member(GROUP, USER, "member")
    refused = "Only this chat's administrators can change its alerts."
    assert await world.say(GROUP, "/subscribe Starlink", from_user=USER) == [refused]
    assert await world.say(GROUP, "/watch x starlink", from_user=USER) == [refused]
    assert await world.say(GROUP, "/digest hourly", from_user=USER) == [refused]
    assert world.scalar("SELECT count(*) FROM bot_chat") == 0  # A03: unauthorised = 0
    (listing,) = await world.say(GROUP, "/watchlists", from_user=USER)  # reading is fine
    assert "▫️ Starlink" in listing

    ok = await world.say(GROUP, "/subscribe Starlink", from_user=OTHER)
    assert ok == ["Subscribed: alerts of Starlink come to this chat."]
    assert world.rt.recipients[f"telegram:{GROUP}"].watchlists == ("Starlink",)
    member_calls = world.tg.requests("getChatMember", chat_id=GROUP)
    assert {c.params["user_id"] for c in member_calls} == {USER, OTHER}

    before = len(world.tg.messages(GROUP))
    await world.handled(world.tg.anonymous_admin_message(GROUP, "/subscribe Kiriyenko"))
    assert world.tg.messages(GROUP)[before].text.startswith("Subscribed: alerts of Kiriyenko")
    assert world.rt.recipients[f"telegram:{GROUP}"].watchlists == ("Starlink", "Kiriyenko")


async def test_a_channel_post_speaks_for_the_channel(world: BotWorld) -> None:
    await world.open()
    world.tg.add_chat(CHANNEL, "channel", title="Newsroom")
    await world.handled(world.tg.channel_post(CHANNEL, "/subscribe Ferries"))
    (answer,) = [m.text for m in world.tg.messages(CHANNEL)]
    assert answer == "Subscribed: alerts of Ferries come to this chat."
    assert world.scalar("SELECT kind FROM bot_chat WHERE chat_id = :c", c=CHANNEL) == "channel"


async def test_a_chat_configured_in_yaml_is_left_to_the_administrator(world: BotWorld) -> None:
    newsroom = {
        "name": "newsroom",
        "channel": "telegram",
        "chat_id": USER,
        "watchlists": ["Ferries"],
    }
    await world.open(recipients=[newsroom])
    (answer,) = await world.say(USER, "/subscribe Starlink")
    assert answer.startswith("This chat is set up in the configuration by the administrator")
    (mine,) = await world.say(USER, "/mine")
    assert "Receives: Ferries." in mine
    assert world.rt.recipients[f"telegram:{USER}"].watchlists == ("Ferries",)
    assert (await world.say(USER, "/watch quay quay"))[0].startswith("Watching quay")
