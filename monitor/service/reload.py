"""Live configuration reload: SIGHUP and a file watcher, validation, and the difference to apply.

``config_diff(old, new)`` (pure) says what changed between two valid configurations:
feeds added, removed or changed (by URL), watchlists, recipients, channels, admins, and
the other monitor.yaml settings, some of which only take effect after a restart.

``ConfigWatcher`` polls the three YAML files (mtime, size and a hash of the content, so
an editor that rewrites a file identically is not a change, and one that keeps the mtime
is); a change is acted on once the files have stayed the same for one more interval
(editors write in steps).

``Reloader`` owns the running ``Config``. ``reload(reason)`` re-reads every file in a
worker thread and validates it exactly as start-up does; then:

- problems: each is logged with its file:line, ``on_invalid`` is called (the daemon
  tells the admins) and the running configuration stays;
- valid and different: ``apply(new, diff)`` is awaited (the daemon syncs feeds,
  recompiles watchlists ...), then the new configuration becomes the running one; if
  ``apply`` raises, the error is logged and reported and the old one stays current.

SIGHUP (``install_sighup``) and the watcher both end in ``reload``; reloads never overlap.
Must not: apply anything itself (the daemon's ``apply`` does), touch the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.config import FEEDS_FILE, MONITOR_FILE, WATCHLISTS_FILE, Config, load_config
from monitor.config.build import QueryValidator
from monitor.core.models import Feed
from monitor.core.query import validate_query
from monitor.errors import ConfigError, ConfigProblem
from monitor.logs import get_logger
from monitor.service.notify import SystemdNotifier

log = get_logger("monitor.reload")

FILES = (MONITOR_FILE, FEEDS_FILE, WATCHLISTS_FILE)
LIVE_SECTIONS = ("channels", "recipients", "admins")  # reported on their own in the diff
RESTART_SETTINGS = ("database_url", "database_password_env", "database_pool_size", "http")


@dataclass(frozen=True, slots=True)
class FeedChange:
    """A feed present before and after, with the names of the fields that changed."""

    feed: Feed  # as it is now
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """What a reload changes."""

    feeds_added: tuple[Feed, ...] = ()
    feeds_removed: tuple[Feed, ...] = ()
    feeds_changed: tuple[FeedChange, ...] = ()
    watchlists_added: tuple[str, ...] = ()
    watchlists_removed: tuple[str, ...] = ()
    watchlists_changed: tuple[str, ...] = ()
    recipients_changed: bool = False
    channels_changed: bool = False
    admins_changed: bool = False
    settings_changed: tuple[str, ...] = ()  # monitor.yaml keys, besides the sections above
    restart_needed: tuple[str, ...] = ()  # those of settings_changed not applied live

    @property
    def feeds(self) -> bool:
        return bool(self.feeds_added or self.feeds_removed or self.feeds_changed)

    @property
    def watchlists(self) -> bool:
        """The watchlists must be recompiled."""
        return bool(self.watchlists_added or self.watchlists_removed or self.watchlists_changed)

    @property
    def empty(self) -> bool:
        return not (
            self.feeds
            or self.watchlists
            or self.recipients_changed
            or self.channels_changed
            or self.admins_changed
            or self.settings_changed
        )

    def summary(self) -> str:
        """One line for the log: ``feeds +2 -1 ~1; watchlists ~Starlink; recipients``."""
        parts = []
        if self.feeds:
            parts.append(
                f"feeds +{len(self.feeds_added)} -{len(self.feeds_removed)} "
                f"~{len(self.feeds_changed)}"
            )
        if self.watchlists:
            names = [
                *(f"+{n}" for n in self.watchlists_added),
                *(f"-{n}" for n in self.watchlists_removed),
                *(f"~{n}" for n in self.watchlists_changed),
            ]
            parts.append("watchlists " + " ".join(names))
        for flag, name in (
            (self.recipients_changed, "recipients"),
            (self.channels_changed, "channels"),
            (self.admins_changed, "admins"),
        ):
            if flag:
                parts.append(name)
        if self.settings_changed:
            parts.append("settings " + ", ".join(self.settings_changed))
        if self.restart_needed:
            parts.append("restart needed for " + ", ".join(self.restart_needed))
        return "; ".join(parts) or "no change"


def _by(items: Sequence[Any], key: str) -> dict[Any, Any]:
    return {getattr(item, key): item for item in items}


def config_diff(old: Config, new: Config) -> ConfigDiff:
    """The difference between two valid configurations (pure)."""
    old_feeds, new_feeds = _by(old.feeds, "url"), _by(new.feeds, "url")
    changed_feeds = []
    for url in old_feeds.keys() & new_feeds.keys():
        a, b = old_feeds[url], new_feeds[url]
        names = tuple(f.name for f in fields(Feed) if getattr(a, f.name) != getattr(b, f.name))
        if names:
            changed_feeds.append(FeedChange(b, names))
    old_lists, new_lists = _by(old.watchlists, "name"), _by(new.watchlists, "name")
    settings = [
        name
        for name in type(new.monitor).model_fields
        if name not in LIVE_SECTIONS and getattr(old.monitor, name) != getattr(new.monitor, name)
    ]
    if old.database_url != new.database_url and "database_url" not in settings:
        settings.append("database_url")  # the default moved ($STATE_DIRECTORY)
    return ConfigDiff(
        feeds_added=tuple(new_feeds[u] for u in new_feeds if u not in old_feeds),
        feeds_removed=tuple(old_feeds[u] for u in old_feeds if u not in new_feeds),
        feeds_changed=tuple(sorted(changed_feeds, key=lambda c: c.feed.url)),
        watchlists_added=tuple(n for n in new_lists if n not in old_lists),
        watchlists_removed=tuple(n for n in old_lists if n not in new_lists),
        watchlists_changed=tuple(
            n for n in new_lists if n in old_lists and old_lists[n] != new_lists[n]
        ),
        recipients_changed=_by(old.recipients, "key") != _by(new.recipients, "key"),
        channels_changed=old.monitor.channels != new.monitor.channels,
        admins_changed=old.monitor.admins != new.monitor.admins,
        settings_changed=tuple(settings),
        restart_needed=tuple(s for s in settings if s in RESTART_SETTINGS),
    )


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The outcome of one reload: the new configuration, or the problems that kept the old one."""

    reason: str
    config: Config | None
    problems: tuple[ConfigProblem, ...] = ()
    diff: ConfigDiff | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.config is not None


def invalid_config_notice(problems: Sequence[ConfigProblem], now: datetime) -> tuple[str, str, str]:
    """(key, title, text) of the admin notice for a rejected reload: once a day per problem set."""
    text = "\n".join(str(p) for p in problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    key = f"config-invalid/{digest}/{now:%Y-%m-%d}"
    shown = "\n".join(str(p) for p in problems[:20])
    more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
    title = f"monitor: configuration not reloaded ({len(problems)} problem(s))"
    body = f"The running configuration stays until this is fixed:\n{shown}{more}"
    return key, title, body


Fingerprint = tuple[tuple[str, int, int, str], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """(name, mtime_ns, size, sha256) of each configuration file; -1 and "" when missing."""
    found = []
    for name in FILES:
        path = directory / name
        try:
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found.append((name, stat.st_mtime_ns, stat.st_size, digest))
        except OSError:
            found.append((name, -1, -1, ""))
    return tuple(found)


class ConfigWatcher:
    """Notices when the configuration files change (polling: works on every file system)."""

    def __init__(self, directory: Path, *, interval_s: float = 2.0) -> None:
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.seen = fingerprint(self.directory)

    def changed(self) -> bool:
        """Has the content changed since ``seen``? (mtime alone is not a change)"""
        return _contents(fingerprint(self.directory)) != _contents(self.seen)

    async def wait_for_change(self, stop: asyncio.Event) -> bool:
        """Wait until the files changed and then stayed the same for one interval.

        Returns False when ``stop`` is set first.
        """
        previous: Fingerprint | None = None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
            if stop.is_set():
                return False
            current = await asyncio.to_thread(fingerprint, self.directory)
            if _contents(current) == _contents(self.seen):
                previous = None
                continue
            if previous is not None and current == previous:
                return True
            previous = current
        return False


def _contents(fp: Fingerprint) -> tuple[tuple[str, str], ...]:
    return tuple((name, digest) for name, _mtime, _size, digest in fp)


Apply = Callable[[Config, ConfigDiff], Awaitable[None]]
OnInvalid = Callable[[Sequence[ConfigProblem]], Awaitable[None]]


def load_candidate(
    directory: Path,
    *,
    query_validator: QueryValidator | None = validate_query,
    environ: Mapping[str, str] | None = None,
) -> tuple[Config | None, list[ConfigProblem]]:
    """Read and validate the configuration as start-up does: (config, []) or (None, problems)."""
    try:
        return load_config(directory, query_validator=query_validator, environ=environ), []
    except ConfigError as exc:
        return None, list(exc.problems)


class Reloader:
    """Keeps the running configuration; replaces it only with a valid one."""

    def __init__(
        self,
        config: Config,
        apply: Apply,
        *,
        on_invalid: OnInvalid | None = None,
        notifier: SystemdNotifier | None = None,
        environ: Mapping[str, str] | None = None,
        query_validator: QueryValidator | None = validate_query,
        watch_interval_s: float = 2.0,
    ) -> None:
        self.current = config
        self.apply = apply
        self.on_invalid = on_invalid
        self.notifier = notifier
        self.environ = environ
        self.query_validator = query_validator
        self.watcher = ConfigWatcher(config.directory, interval_s=watch_interval_s)
        self.results: list[ReloadResult] = []  # the last few, for tests and status
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[ReloadResult]] = set()

    async def reload(self, reason: str = "request") -> ReloadResult:
        """Re-read, validate and apply the configuration (see the module docstring)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            started = loop.time()
            if self.notifier:
                self.notifier.reloading()
            try:
                result = await self._reload(reason, started)
            finally:
                if self.notifier:
                    self.notifier.ready(status="running")
            self.results = [*self.results[-9:], result]
            return result

    async def _reload(self, reason: str, started: float) -> ReloadResult:
        loop = asyncio.get_running_loop()
        seen = await asyncio.to_thread(fingerprint, self.current.directory)
        config, problems = await asyncio.to_thread(
            load_candidate,
            self.current.directory,
            query_validator=self.query_validator,
            environ=self.environ,
        )
        self.watcher.seen = seen  # this content was looked at: do not retry it until it changes
        if config is None:
            for problem in problems:
                log.error("config_problem", reason=reason, problem=str(problem))
            log.error("config_reload_rejected", reason=reason, problems=len(problems))
            if self.on_invalid is not None:
                try:
                    await self.on_invalid(problems)
                except Exception as exc:  # telling the admins must not break the daemon
                    log.error("config_invalid_notice_failed", error=repr(exc))
            return ReloadResult(reason, None, tuple(problems), None, loop.time() - started)
        diff = config_diff(self.current, config)
        if not diff.empty:
            try:
                await self.apply(config, diff)
            except Exception as exc:  # the running configuration stays; the daemon goes on
                log.error("config_apply_failed", reason=reason, error=repr(exc))
                problem = ConfigProblem(str(config.directory), None, "", f"not applied: {exc}")
                return ReloadResult(reason, None, (problem,), diff, loop.time() - started)
        self.current = config
        log.info("config_reloaded", reason=reason, changes=diff.summary())
        if diff.restart_needed:
            log.warning("config_restart_needed", settings=list(diff.restart_needed))
        return ReloadResult(reason, config, (), diff, loop.time() - started)

    def request(self, reason: str) -> asyncio.Task[ReloadResult]:
        """Start a reload in the background (from a signal handler)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def install_sighup(self) -> bool:
        """Reload on SIGHUP (``systemctl reload``); False where signals cannot be handled."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request, "SIGHUP")
        except (NotImplementedError, RuntimeError, ValueError):
            return False
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever the files change, until ``stop`` is set."""
        while await self.watcher.wait_for_change(stop):
            await self.reload("files changed")

    async def aclose(self) -> None:
        """Wait for reloads in progress (they are short) before the daemon stops."""
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
