"""sd_notify against a real datagram socket playing systemd, and a watchdog tied to progress."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.service.notify import SystemdNotifier, WatchdogPinger, start_watchdog, stop_task


class Supervisor:
    """A NOTIFY_SOCKET listener: records every datagram, as the service manager would."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind = b"\0" + address[1:].encode() if address.startswith("@") else address
        self.sock.bind(bind)
        self.sock.settimeout(0.0)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def states(self) -> list[str]:
        return [line for message in self.drain() for line in message.split("\n")]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def supervisor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Supervisor]:
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
    else:
        address = f"@monitor-test-{uuid.uuid4().hex}"
    sup = Supervisor(address)
    yield sup
    sup.close()


def env(sup: Supervisor, watchdog_usec: int | None = None) -> dict[str, str]:
    values = {"NOTIFY_SOCKET": sup.address}
    if watchdog_usec is not None:
        values |= {"WATCHDOG_USEC": str(watchdog_usec), "WATCHDOG_PID": str(os.getpid())}
    return values


async def test_ready_watchdog_and_stopping_arrive_in_order(supervisor: Supervisor) -> None:
    notifier = SystemdNotifier(env(supervisor, watchdog_usec=200_000))
    ticks = 0

    async def probe() -> None:
        await asyncio.sleep(0)

    assert notifier.ready(status="polling 3 feeds")
    task = start_watchdog(notifier, ticks=lambda: ticks, probe=probe)
    assert task is not None
    for _ in range(5):  # the scheduler ticks for 0.5 s
        ticks += 1
        await asyncio.sleep(0.1)
    await stop_task(task)
    assert notifier.stopping()
    notifier.close()
    states = supervisor.states()
    assert states[:2] == ["READY=1", "STATUS=polling 3 feeds"]
    assert states[-1] == "STOPPING=1"
    pings = states[2:-1]
    assert len(pings) >= 3 and set(pings) == {"WATCHDOG=1"}


async def test_a_wedged_scheduler_stops_the_pings(supervisor: Supervisor) -> None:
    notifier = SystemdNotifier(env(supervisor))
    ticks = 0

    async def probe() -> None:
        return None

    now = 0.0
    pinger = WatchdogPinger(
        notifier, ticks=lambda: ticks, probe=probe, interval_s=0.05, stall_s=5,
        monotonic=lambda: now,
    )  # fmt: skip
    ticks = 1
    assert await pinger.beat()
    now = 3.0  # no tick since, but within stall_s: pings may come faster than ticks
    assert await pinger.beat()
    ticks = 2
    assert await pinger.beat()
    for step in range(5):  # ticks stay at 2 for 6 s and more: the scheduler is wedged
        now = 9.0 + step
        assert not await pinger.beat()
    ticks = 3  # it recovers
    assert await pinger.beat()
    assert supervisor.states() == ["WATCHDOG=1"] * 4
    assert (pinger.pings, pinger.withheld) == (4, 5)
    assert pinger.last_reason == "progress"


async def test_a_hanging_or_failing_database_stops_the_pings(supervisor: Supervisor) -> None:
    notifier = SystemdNotifier(env(supervisor))
    ticks = 0
    mode = "hang"

    async def probe() -> None:
        if mode == "hang":
            await asyncio.sleep(10)
        elif mode == "fail":
            raise OSError("database is locked")

    pinger = WatchdogPinger(notifier, ticks=lambda: ticks, probe=probe, interval_s=0.05)
    ticks = 1
    assert not await pinger.beat()
    assert "did not answer" in pinger.last_reason
    mode = "fail"
    ticks = 2
    assert not await pinger.beat()
    assert "database is locked" in pinger.last_reason
    mode = "ok"
    assert await pinger.beat()
    assert supervisor.states() == ["WATCHDOG=1"]


async def test_the_watchdog_runs_only_when_systemd_asks_for_it(supervisor: Supervisor) -> None:
    async def probe() -> None:
        return None

    assert start_watchdog(SystemdNotifier(env(supervisor)), ticks=lambda: 0, probe=probe) is None
    other_pid = {**env(supervisor, 1_000_000), "WATCHDOG_PID": str(os.getpid() + 1)}
    assert SystemdNotifier(other_pid).watchdog_interval() is None
    assert SystemdNotifier(env(supervisor, 30_000_000)).watchdog_interval() == 15.0


def test_no_notify_socket_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()
    assert SystemdNotifier({"NOTIFY_SOCKET": "relative/path"}).enabled is False


def test_a_vanished_supervisor_never_raises(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.ready() is False  # nobody listens: logged, not raised
    notifier.close()


def test_status_and_reloading_fields(supervisor: Supervisor) -> None:
    notifier = SystemdNotifier(env(supervisor))
    notifier.status("reloading\nconfig")
    notifier.reloading()
    notifier.ready()
    notifier.close()
    assert supervisor.states() == ["STATUS=reloading config", "RELOADING=1", "READY=1"]
