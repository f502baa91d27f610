"""The outbox in the database, on SQLite and PostgreSQL: merge, updates, claims, leases."""

from __future__ import annotations

import threading
from datetime import timedelta

from monitor.clock import FixedClock
from monitor.core.models import Recipient
from monitor.core.schedule_delivery import Hold
from monitor.store import claims
from monitor.store import delivery_tables as state_store
from monitor.store import outbox as store
from monitor.store.database import Database
from tests.service.test_outbox_support import Newsroom, telegram_recipient

A, B, C = telegram_recipient(11), telegram_recipient(12), telegram_recipient(13)


def _claim(
    db: Database, clock: FixedClock, owner: str = "me", **options: object
) -> list[claims.RecipientWork]:
    with db.writing() as conn:
        return claims.claim_due(conn, clock.now(), owner=owner, **options)  # type: ignore[arg-type]


def test_a_later_watchlist_is_merged_and_a_sent_alert_scheduled_for_an_update(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    pending = news.story("Ferry story", [A, B], watchlists=["Ferries"])
    (work_a,) = _claim(db, clock, only=None, max_recipients=1)
    with db.writing() as conn:
        store.mark_sent(conn, [work_a.alerts[0].delivery_id], "11:1", clock.now())
    clock.advance(60)
    news.match_later(pending, "Batam", [A, B])
    rows = {r.recipient: r for r in news.rows("SELECT * FROM delivery")}
    assert len(rows) == 2
    for row in rows.values():
        assert "Batam" in row.watchlists and "Ferries" in row.watchlists
    sent, waiting = rows[work_a.recipient], rows[B.key if work_a.recipient == A.key else A.key]
    assert str(sent.update_due_at)[:19] == str(clock.now() + timedelta(seconds=240))[:19]
    assert waiting.update_due_at is None and waiting.state == "pending"


def test_story_changes_schedule_one_update_per_interval_and_never_for_digests(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    story = news.story("Ferry story", [A, B])
    works = _claim(db, clock)
    with db.writing() as conn:
        store.mark_sent(conn, [works[0].alerts[0].delivery_id], "ref-1", clock.now())
        conn.execute(
            store._delivery.update()
            .where(store._delivery.c.id == works[1].alerts[0].delivery_id)
            .values(state="sent", hold="hourly", message_ref="d-1")
        )
    clock.advance(10)
    news.join(story, "Coast Times")
    due = [r.update_due_at for r in news.rows("SELECT update_due_at FROM delivery ORDER BY id")]
    assert due[1] is None  # sent in a digest: not edited
    first = due[0]
    assert first is not None
    clock.advance(10)
    news.join(story, "Island Post")
    assert news.rows("SELECT update_due_at FROM delivery ORDER BY id")[0].update_due_at == first
    assert _claim(db, clock) == []  # not due before the interval
    clock.advance(300)
    (update_work,) = _claim(db, clock)
    (pending,) = update_work.updates
    assert pending.ref == "ref-1" and "Island Post" in pending.alert.also_reported_by
    news.join(story, "Harbour Weekly")  # changes again while the update is in flight
    with db.writing() as conn:
        store.mark_updated(
            conn, pending.alert.delivery_id, "ref-1", clock.now(), claimed_due=pending.due_at
        )
    row = news.rows("SELECT update_due_at, updates FROM delivery ORDER BY id")[0]
    assert row.updates == 1 and row.update_due_at is not None  # the newer change is kept


def test_claims_go_per_recipient_in_order_and_respect_leases(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    for n in range(7):
        news.story(f"Story {n}", [A, B])
    first = _claim(db, clock, owner="one", per_recipient=3, max_recipients=1)
    assert len(first) == 1 and [a.title for a in first[0].alerts] == [
        "Story 0",
        "Story 1",
        "Story 2",
    ]
    second = _claim(db, clock, owner="two", per_recipient=3)
    assert [w.recipient for w in second] == [B.key if first[0].recipient == A.key else A.key]
    assert _claim(db, clock, owner="three") == []  # both recipients are served by someone
    clock.advance(121)  # "one" and "two" died: their leases ran out
    again = _claim(db, clock, owner="three", per_recipient=10)
    assert sorted(len(w.alerts) for w in again) == [7, 7]
    assert [a.title for a in again[0].alerts][:3] == ["Story 0", "Story 1", "Story 2"]
    assert all(a.attempts == 2 for a in again[0].alerts[:3])


def test_release_is_only_for_the_owner_and_renew_tells_what_is_still_held(db: Database) -> None:
    clock = FixedClock()
    Newsroom(db, clock).story("Story", [A])
    (work,) = _claim(db, clock, owner="one")
    ids = work.delivery_ids
    with db.writing() as conn:
        store.release(conn, ids, [], "intruder")
        assert store.renew(conn, ids, "one", clock.now() + timedelta(seconds=120)) == set(ids)
        store.release(conn, ids, [], "one", error="stopping")
        assert store.renew(conn, ids, "one", clock.now()) == set()
    assert _claim(db, clock, owner="two")[0].delivery_ids == ids


def test_paused_and_stopped_recipients_are_not_claimed(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    news.story("Story", [A, B, C])
    with db.writing() as conn:
        state_store.pause_recipient(
            conn, A.key, clock.now() + timedelta(seconds=60), "429", clock.now()
        )
        assert state_store.stop_recipient(conn, B.key, "blocked", clock.now()) == 1
        assert state_store.stop_recipient(conn, B.key, "blocked", clock.now()) is None
    assert [w.recipient for w in _claim(db, clock)] == [C.key]
    states = dict(news.rows("SELECT recipient, state FROM delivery"))
    assert states == {A.key: "pending", B.key: "stopped", C.key: "sending"}
    clock.advance(61)
    assert [w.recipient for w in _claim(db, clock)] == [A.key]
    with db.writing() as conn:
        assert store.resume_recipient(conn, B.key, clock.now()) == 1
    assert [w.recipient for w in _claim(db, clock)] == [B.key]


def test_holds_move_alerts_to_their_digest_and_release_them_together(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    news.story("Urgent", [A], priority="high")
    news.story("Calm 1", [A])
    news.story("Calm 2", [A])
    end = clock.now() + timedelta(hours=1)

    def policy(key: str, priority: str, reason: str | None) -> Hold | None:
        if reason is None and priority != "high":
            return Hold(end, "hourly")
        return None

    (work,) = _claim(db, clock, hold_policy=policy)
    assert [a.title for a in work.alerts] == ["Urgent"] and work.digest == ()
    with db.writing() as conn:
        store.mark_sent(conn, work.delivery_ids, "r", clock.now())
    assert _claim(db, clock, hold_policy=policy) == []
    clock.current = end
    (digest,) = _claim(db, clock, hold_policy=policy)
    assert [a.title for a in digest.digest] == ["Calm 1", "Calm 2"]
    assert digest.digest_reason == "hourly" and digest.alerts == ()


def test_an_admin_notice_is_queued_once_per_key(db: Database) -> None:
    clock = FixedClock()
    admins = [
        Recipient("telegram:1", "telegram", "1"),
        Recipient("email:a@b.test", "email", "a@b.test"),
    ]
    with db.writing() as conn:
        assert state_store.add_notice(conn, "stopped:x:1", admins, "t", "x", clock.now()) == 2
        assert state_store.add_notice(conn, "stopped:x:1", admins, "t", "x", clock.now()) == 0
        claimed = state_store.claim_notices(conn, clock.now(), owner="o", lease_s=60)
        assert len(claimed) == 2
        assert state_store.claim_notices(conn, clock.now(), owner="p", lease_s=60) == []


def test_concurrent_claims_never_share_a_recipient_or_an_alert(db: Database) -> None:
    clock = FixedClock()
    news = Newsroom(db, clock)
    people = [telegram_recipient(100 + n) for n in range(12)]
    for n in range(4):
        news.story(f"Story {n}", people)
    found: dict[str, list[claims.RecipientWork]] = {}
    barrier = threading.Barrier(4)

    def worker(owner: str) -> None:
        barrier.wait()
        found[owner] = _claim(db, clock, owner=owner, max_recipients=4, per_recipient=10)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recipients = [w.recipient for works in found.values() for w in works]
    deliveries = [i for works in found.values() for w in works for i in w.delivery_ids]
    assert len(recipients) == len(set(recipients)) == 12
    assert len(deliveries) == len(set(deliveries)) == 48
