"""The systemd unit: hardening present, secrets as credentials, verified by systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config.models import TelegramChannel

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "monitor.service"
README = UNIT.with_name("README.md")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, repeated keys kept, in order."""
    found, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def values(key: str) -> list[str]:
    return [v for _s, k, v in directives(UNIT.read_text()) if k == key]


def one(key: str) -> str:
    (value,) = values(key)
    return value


def with_existing_binary(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart runs a binary that exists on this machine."""
    text = UNIT.read_text()
    assert "ExecStart=/opt/monitor/venv/bin/monitor " in text
    copy = tmp_path / "monitor.service"
    copy.write_text(text.replace("/opt/monitor/venv/bin/monitor", sys.executable, 1))
    return copy


def test_service_shape_and_lifecycle() -> None:
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("ExecStart").endswith("monitor run --config /etc/monitor")
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("Restart") == "on-failure"
    watchdog = int(one("WatchdogSec").rstrip("s"))
    assert watchdog >= 30  # pings every WatchdogSec/2; the scheduler ticks every 2 s
    assert int(one("TimeoutStopSec").rstrip("s")) >= 30  # the daemon drains for 20 s
    assert one("KillSignal") == "SIGTERM"


def test_user_state_and_configuration_directories() -> None:
    assert one("DynamicUser") == "yes" and one("User") == "monitor"
    assert one("StateDirectory") == "monitor"  # $STATE_DIRECTORY: the SQLite default
    assert one("ConfigurationDirectory") == "monitor"
    assert one("UMask") == "0077"


def test_hardening_directives() -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectHostname": "yes",
        "ProtectClock": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
    }
    for key, value in expected.items():
        assert one(key) == value, key
    assert values("SystemCallFilter") == ["@system-service", "~@privileged @resources"]


def test_secrets_are_credentials_never_environment() -> None:
    environment = " ".join(values("Environment") + values("EnvironmentFile"))
    assert not re.search(r"TOKEN|PASSWORD|SECRET|PASSWD", environment, re.IGNORECASE)
    assert values("EnvironmentFile") == []
    credentials = set(values("LoadCredential"))
    # The names monitor.yaml uses by default are the ones the unit passes.
    assert TelegramChannel().token_env in credentials
    assert {"SMTP_USERNAME", "SMTP_PASSWORD", "WEBHOOK_SECRET"} <= credentials
    assert "MONITOR_DB_PASSWORD" in credentials  # the name config/monitor.yaml suggests


@needs_analyze
def test_verify_is_clean_once_the_binary_exists(tmp_path: Path) -> None:
    assert ANALYZE is not None
    original = subprocess.run(
        [ANALYZE, "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    # On a machine without the installed program the only complaint is its absence.
    problems = [line for line in original.stderr.splitlines() if line.strip()]
    assert all("/opt/monitor/venv/bin/monitor" in line for line in problems), problems
    copy = with_existing_binary(tmp_path)
    checked = subprocess.run(
        [ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr.strip() == "" and checked.stdout.strip() == ""


@needs_analyze
def test_security_exposure_is_at_most_3(tmp_path: Path) -> None:
    assert ANALYZE is not None
    copy = with_existing_binary(tmp_path)
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for monitor\.service: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    exposure = float(found.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= 3.0


def test_readme_covers_the_operator_tasks() -> None:
    text = README.read_text()
    for needle in (
        "/opt/monitor/venv",
        "/etc/monitor",
        "/etc/credstore",
        "systemctl enable --now monitor",
        "journalctl -u monitor",
        "systemctl reload monitor",
        "monitor db upgrade",
        "monitor status",
        ".backup",
        "VACUUM INTO",
    ):
        assert needle in text, needle


TEMPLATE = UNIT.with_name("monitor@.service")


def test_template_unit_is_the_service_unit_per_instance() -> None:
    """monitor@.service differs from monitor.service only where an instance must."""
    single, template = directives(UNIT.read_text()), directives(TEMPLATE.read_text())
    differing = {k for (s, k, v) in template if (s, k, v) not in single}
    assert differing == {
        "Description", "Documentation", "After", "StateDirectory", "WorkingDirectory",
        "Environment",
    }  # fmt: skip
    assert ("Service", "StateDirectory", "monitor/%i") in template


@needs_analyze
def test_template_instance_verifies_and_is_hardened(tmp_path: Path) -> None:
    assert ANALYZE is not None
    text = TEMPLATE.read_text().replace("/opt/monitor/venv/bin/monitor", sys.executable, 1)
    instance = tmp_path / "monitor@1.service"
    instance.write_text(text)
    checked = subprocess.run(
        [ANALYZE, "verify", str(instance)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(instance)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for monitor@1\.service: ([\d.]+)", result.stdout)
    assert found and float(found.group(1)) <= 3.0, result.stdout
