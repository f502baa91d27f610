"""Every command, driven through the Bot API emulator: what the user reads, what is stored."""

from __future__ import annotations

from tests.bot.conftest import ADMIN, USER, BotWorld
from tests.support.configs import item
from tests.support.feed_server import Response


async def test_commands_are_registered_with_their_help_and_admins_get_theirs(
    world: BotWorld,
) -> None:
    await world.open()
    menus = world.tg.commands()
    default = next(v for k, v in menus.items() if '"default"' in k)
    names = [c["command"] for c in default]
    assert names[:3] == ["start", "help", "watchlists"]
    assert {"subscribe", "mute", "recent", "watch", "unwatch"} <= set(names)
    assert "status" not in names
    assert all(c["description"] for c in default)
    admin = next(v for k, v in menus.items() if str(ADMIN) in k)
    assert {"status", "approve", "deny"} <= {c["command"] for c in admin}


async def test_start_help_and_watchlists(world: BotWorld) -> None:
    await world.open()
    (start,) = await world.say(USER, "/start")
    assert "You have access" in start and "/subscribe NAME" in start
    assert world.scalar("SELECT count(*) FROM bot_chat WHERE chat_id = :c", c=USER) == 1
    (help_all,) = await world.say(USER, "/help")
    assert "/subscribe NAME — receive a watchlist's alerts here" in help_all
    assert "/status" not in help_all  # not an admin
    (help_one,) = await world.say(USER, "/help mute")
    assert "/mute NAME DURATION|off" in help_one and "90s, 30m, 2h, 3d" in help_one
    await world.say(USER, "/subscribe Starlink")
    (listing,) = await world.say(USER, "/watchlists")
    assert "✅ Starlink" in listing and "▫️ Kiriyenko" in listing and "▫️ Ferries" in listing


async def test_subscribe_and_unsubscribe_change_what_the_chat_receives(world: BotWorld) -> None:
    await world.open()
    assert await world.say(USER, "/subscribe starlink") == [
        "Subscribed: alerts of Starlink come to this chat."
    ]
    assert await world.say(USER, "/subscribe Starlink") == ["Already subscribed to Starlink."]
    (unknown,) = await world.say(USER, "/subscribe Starlnk")
    assert "No watchlist named Starlnk" in unknown and "Did you mean Starlink?" in unknown
    recipient = world.rt.recipients[f"telegram:{USER}"]
    assert recipient.watchlists == ("Starlink",)

    world.add_item("a", item(2, "Starlink satellites seen over the harbour"))
    world.add_item("a", item(3, "Kiriyenko visits the port"))
    await world.poll_and_send()  # the baseline poll
    world.add_item("a", item(4, "A Starlink terminal in every village"))
    world.add_item("a", item(5, "Kiriyenko speaks again"))
    await world.poll_and_send()
    (alert,) = world.alerts(USER)  # Starlink only
    assert "Starlink" in alert.text and "Story number 4" in alert.text

    assert await world.say(USER, "/unsubscribe Starlink") == ["Unsubscribed from Starlink."]
    assert world.rt.recipients[f"telegram:{USER}"].watchlists == ()
    world.add_item("a", item(6, "Starlink again"))
    await world.poll_and_send()
    assert len(world.alerts(USER)) == 1
    assert await world.say(USER, "/unsubscribe Starlink") == [
        "This chat was not subscribed to Starlink."
    ]


async def test_digest_quiet_and_timezone_settings(world: BotWorld) -> None:
    await world.open()
    assert "one digest per hour" in (await world.say(USER, "/digest hourly"))[0]
    assert world.rt.recipients[f"telegram:{USER}"].mode == "hourly"
    (daily,) = await world.say(USER, "/digest daily 08:30")
    assert "a day at 08:30" in daily
    recipient = world.rt.recipients[f"telegram:{USER}"]
    assert (recipient.mode, recipient.daily_at) == ("daily", "08:30")
    (bad,) = await world.say(USER, "/digest weekly")
    assert "mode is immediate, hourly or daily HH:MM" in bad
    assert (await world.say(USER, "/digest immediate"))[0].startswith("Alerts come one by one")

    (quiet,) = await world.say(USER, "/quiet 22:00-07:00")
    assert "Quiet hours 22:00-07:00" in quiet
    assert world.rt.recipients[f"telegram:{USER}"].quiet_hours == ("22:00", "07:00")
    assert "is not a time of day HH:MM" in (await world.say(USER, "/quiet 25:00-07:00"))[0]
    assert await world.say(USER, "/quiet off") == ["Quiet hours are off."]
    assert world.rt.recipients[f"telegram:{USER}"].quiet_hours is None

    assert await world.say(USER, "/timezone Asia/Jakarta") == ["Time zone: Asia/Jakarta."]
    assert world.rt.recipients[f"telegram:{USER}"].timezone == "Asia/Jakarta"
    (wrong,) = await world.say(USER, "/timezone Asia/Jakartaa")
    assert "unknown time zone" in wrong and "Asia/Jakarta" in wrong
    (mine,) = await world.say(USER, "/mine")
    assert "Delivery: immediate; time zone Asia/Jakarta." in mine


async def test_mute_a_watchlist_for_a_while_then_unmute(world: BotWorld) -> None:
    await world.open()
    await world.say(USER, "/subscribe Starlink")
    await world.poll_and_send()
    (muted,) = await world.say(USER, "/mute Starlink 2h")
    assert muted.startswith("Starlink is muted until") and "/mute Starlink off" in muted
    world.add_item("a", item(2, "Starlink over the bay"))
    assert await world.poll_and_send() == 0
    assert "watchlist Starlink until" in (await world.say(USER, "/mine"))[0]
    assert await world.say(USER, "/mute Starlink off") == ["Starlink is not muted any more."]
    world.add_item("a", item(3, "Starlink over the hills"))
    assert await world.poll_and_send() == 1
    (usage,) = await world.say(USER, "/mute Starlink")
    assert usage.startswith("Use /mute NAME DURATION")
    assert "invalid duration" in (await world.say(USER, "/mute Starlink soon"))[0]
    await world.say(USER, "/mute Starlink 1d")
    assert await world.say(USER, "/unmute Starlink") == ["Starlink is not muted any more."]
    (nothing,) = await world.say(USER, "/unmute Kiriyenko")
    assert nothing.startswith("Nothing called Kiriyenko is muted")


async def test_recent_lists_the_latest_stories_of_a_watchlist(world: BotWorld) -> None:
    await world.open()
    for n in range(2, 6):
        world.add_item("a", item(n, f"Starlink report {n}"))
    await world.poll_and_send()
    (latest,) = await world.say(USER, "/recent Starlink 2")
    lines = latest.split("\n")
    assert lines[0] == "Latest stories of Starlink"
    assert len(lines) == 3 and all("Coast Times" in line for line in lines[1:])
    (default,) = await world.say(USER, "/recent Starlink")
    assert len(default.split("\n")) == 5  # heading + the 4 stories
    assert await world.say(USER, "/recent Kiriyenko") == [
        "Kiriyenko has not matched any story yet."
    ]


async def test_watch_unwatch_and_personal_alerts_reach_their_owner_only(
    world: BotWorld,
) -> None:
    await world.open()
    await world.say(ADMIN, "/subscribe Ferries")  # an all-comers chat must not get it
    (watching,) = await world.say(USER, "/watch harbour harbour NEAR/5 cranes")
    assert watching.startswith("Watching harbour: harbour NEAR/5 cranes")
    assert "~telegram:4242/harbour" in world.rt.matcher.names
    (mine,) = await world.say(USER, "/mine")
    assert "• harbour: harbour NEAR/5 cranes" in mine
    await world.poll_and_send()
    world.add_item("a", item(2, "New cranes arrive at the harbour"))
    assert await world.poll_and_send() == 1
    (alert,) = world.alerts(USER)
    assert alert.text.startswith("🔔 harbour\n")  # its own name, not the namespaced one
    assert world.alerts(ADMIN) == []
    (changed,) = await world.say(USER, "/watch harbour harbour AND ferries")
    assert changed.startswith("Changed harbour")
    (recent,) = await world.say(USER, "/recent harbour")
    assert "Story number 2" in recent
    assert await world.say(USER, "/unwatch harbour") == ["Deleted harbour."]
    assert "~telegram:4242/harbour" not in world.rt.matcher.names
    (none,) = await world.say(USER, "/unwatch harbour")
    assert none.startswith("You have no watchlist named harbour")


async def test_watch_refuses_bad_names_and_queries(world: BotWorld) -> None:
    await world.open()
    (name,) = await world.say(USER, "/watch bad/name ferry")
    assert name.startswith("A watchlist name is one word")
    (empty,) = await world.say(USER, "/watch floods")
    assert empty.startswith("Give a query after the name")
    (syntax,) = await world.say(USER, "/watch floods (flood AND")
    assert syntax.startswith("The query cannot be used: query column")
    (shared,) = await world.say(USER, "/watch Starlink starlink")
    assert "is a shared watchlist" in shared
    assert world.scalar("SELECT count(*) FROM bot_watchlist") == 0


async def test_unknown_commands_and_plain_text_get_a_hint(world: BotWorld) -> None:
    await world.open()
    assert await world.say(USER, "/frobnicate") == [
        "I do not know /frobnicate. /help lists the commands."
    ]
    assert await world.say(USER, "hello") == ["Send /help to see what I can do."]
    assert await world.say(USER, "/start@some_other_bot") == []  # not for us
    assert len(await world.say(USER, "/start@monitor_test_bot")) == 1


async def test_status_is_for_admins_and_shows_feeds_and_outbox(world: BotWorld) -> None:
    await world.open()
    world.feeds.route("/b.xml", Response(status=503))
    await world.poll_and_send()
    assert await world.say(USER, "/status") == ["This command is for the bot's administrators."]
    (status,) = await world.say(ADMIN, "/status")
    assert "2 active: 1 healthy, 1 failing, 0 not polled yet." in status
    assert "• Island Post: 1 failed poll(s)" in status and "503" in status
    assert "Alerts:" in status and "access: open" in status


async def test_start_after_a_block_releases_the_alerts_held_meanwhile(world: BotWorld) -> None:
    await world.open()
    await world.say(USER, "/subscribe Starlink")
    await world.poll_and_send()
    world.tg.block(USER)  # the user blocked the bot: alerts are refused with 403
    world.add_item("a", item(2, "Starlink over the bay"))
    world.add_item("a", item(3, "Starlink over the hills"))
    await world.poll_and_send()
    stopped = "SELECT count(*) FROM delivery WHERE state = 'stopped'"
    assert world.scalar(stopped) == 2
    world.tg.clear_faults(USER)  # unblocked
    (back,) = await world.say(USER, "/start")
    assert "2 alert(s) held while the bot could not write here are coming." in back
    await world.rt.sender.send_due()
    assert len(world.alerts(USER)) == 2
