"""The risks notice: its text, where its marker lives, when it is shown, and remembering it."""

from __future__ import annotations

import errno
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from netprobe.cli import _notice
from netprobe.cli._notice import (
    DEFAULT_ECHO_SERVICES,
    MARKER_NAME,
    NOTICE_ENV,
    PROMPT,
    config_dir,
    confirm,
    default_marker,
    gate,
    notice_text,
    remember,
    should_show,
)
from netprobe.measure.identity import DEFAULT_HTTP_ECHO_SERVICES

DEFAULT_CONTROLS = ("https://cloudflare-dns.com/dns-query", "https://dns.google/dns-query")


def text(**changes: object) -> str:
    arguments: dict[str, object] = {
        "control_resolvers": DEFAULT_CONTROLS,
        "control_proxy": None,
        "ip_services": None,
        "identity_offline": False,
        "include_ip": False,
    }
    arguments.update(changes)
    return notice_text(**arguments)  # type: ignore[arg-type]


class Terminal:
    """Records what gate prints and answers its question with ``answer``."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.printed: list[str] = []
        self.asked: list[str] = []

    def ask(self, question: str) -> bool:
        self.asked.append(question)
        return self.answer

    def echo(self, message: str) -> None:
        self.printed.append(message)


# --- the text ---------------------------------------------------------------------------------

OPTION_SETS = [
    pytest.param({}, id="defaults"),
    pytest.param({"identity_offline": True}, id="offline"),
    pytest.param({"include_ip": True}, id="include-ip"),
    pytest.param({"identity_offline": True, "include_ip": True}, id="offline-include-ip"),
    pytest.param({"cymru": False}, id="ipasn-file"),
    pytest.param(
        {"control_proxy": "socks5://user:secret@127.0.0.1:9050", "include_ip": True},
        id="proxy",
    ),
    pytest.param(
        {
            "control_resolvers": [f"tls://[2001:db8::{i}]:853" for i in range(20)],
            "ip_services": [f"https://echo-{i}.example.net/ip" for i in range(20)],
            "control_proxy": "http://a-rather-long-proxy-name.example.org:3128",
            "include_ip": True,
        },
        id="many-parties",
    ),
]


@pytest.mark.parametrize("changes", OPTION_SETS)
def test_text_fits_fifteen_lines_of_eighty_columns(changes: dict[str, object]) -> None:
    lines = text(**changes).splitlines()
    assert len(lines) <= 15
    assert all(len(line) <= 80 for line in lines)
    assert all(line.isprintable() for line in lines)


@pytest.mark.parametrize("changes", OPTION_SETS)
def test_text_says_what_can_be_seen_and_how_to_skip(changes: dict[str, object]) -> None:
    notice = text(**changes)
    for words in ("DNS", "SNI", "http://", "--include-ip", "--yes", f"{NOTICE_ENV}=1", "stop"):
        assert words in notice


@pytest.mark.parametrize(
    ("changes", "named", "not_named"),
    [
        pytest.param(
            {},
            ["cloudflare-dns.com", "dns.google", *DEFAULT_ECHO_SERVICES, "Team Cymru"],
            ["proxy"],
            id="defaults",
        ),
        pytest.param(
            {
                "control_resolvers": [
                    "9.9.9.9",
                    "tls://1.1.1.1:853",
                    "https://dns.example/q#192.0.2.1",
                ],
                "ip_services": ["https://ip.example.net/", "https://echo.example.org/raw"],
                "control_proxy": "socks5://127.0.0.1:9050",
            },
            [
                "9.9.9.9",
                "1.1.1.1:853",
                "dns.example",
                "ip.example.net",
                "echo.example.org",
                "127.0.0.1:9050",
                "control proxy",
                "Team Cymru",
            ],
            ["api.ipify.org", "OpenDNS", "cloudflare-dns.com"],
            id="given",
        ),
        pytest.param(
            {"identity_offline": True, "control_proxy": "http://proxy.example:3128"},
            ["cloudflare-dns.com", "dns.google", "proxy.example:3128"],
            [*DEFAULT_ECHO_SERVICES, "echo service", "your address", "--offline-identity"],
            id="offline",
        ),
        pytest.param(
            {"identity_offline": True, "ip_services": ["https://ip.example.net/"]},
            ["cloudflare-dns.com"],
            ["ip.example.net", "echo service"],
            id="offline-ignores-ip-services",
        ),
        pytest.param({"cymru": False}, ["api.ipify.org"], ["Cymru"], id="ipasn-file"),
    ],
)
def test_text_names_the_third_parties(
    changes: dict[str, object], named: list[str], not_named: list[str]
) -> None:
    notice = " ".join(text(**changes).split())
    for name in named:
        assert name in notice
    for name in not_named:
        assert name not in notice


def test_text_offers_the_offline_way_when_online() -> None:
    assert "--offline-identity" in text()
    assert "--asn" in text()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({}, "keeps no IP address"),
        ({"include_ip": True}, "will hold this network's public IP address"),
        ({"identity_offline": True, "include_ip": True}, "keeps no IP address"),
    ],
)
def test_text_says_what_the_report_keeps(changes: dict[str, object], says: str) -> None:
    assert says in " ".join(text(**changes).split())


def test_text_never_shows_proxy_credentials() -> None:
    notice = text(control_proxy="http://alice:hunter2@proxy.example:3128")
    assert "hunter2" not in notice
    assert "alice" not in notice
    assert "proxy.example:3128" in notice


def test_text_strips_control_characters_from_names() -> None:
    notice = text(control_resolvers=["https://evil\x1b[2J.example/dns-query", "tls://[::1"])
    assert "\x1b" not in notice
    assert "[::1" in notice


def test_too_many_parties_are_cut_to_and_n_more() -> None:
    many = [f"192.0.2.{i}" for i in range(1, 30)]
    notice = " ".join(text(control_resolvers=many).split())
    assert "192.0.2.1" in notice
    assert "more" in notice


def test_default_echo_services_match_identity() -> None:
    hosts = [urlsplit(url).hostname for url in DEFAULT_HTTP_ECHO_SERVICES]
    assert list(DEFAULT_ECHO_SERVICES[-len(hosts) :]) == hosts


# --- where the marker lives -------------------------------------------------------------------

HOME = Path("/home/volunteer")
MAC = HOME / "Library" / "Application Support" / "netprobe"
APPDATA = r"C:\Users\v\AppData\Roaming"


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {}, HOME / ".config" / "netprobe"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/netprobe")),
        ("linux", {"XDG_CONFIG_HOME": ""}, HOME / ".config" / "netprobe"),
        ("linux", {"XDG_CONFIG_HOME": "relative/cfg"}, HOME / ".config" / "netprobe"),
        ("freebsd14", {"XDG_CONFIG_HOME": "/xdg"}, Path("/xdg/netprobe")),
        ("openbsd7", {}, HOME / ".config" / "netprobe"),
        ("darwin", {}, MAC),
        ("darwin", {"XDG_CONFIG_HOME": "/xdg"}, MAC),
        ("win32", {"APPDATA": APPDATA}, Path(APPDATA) / "netprobe"),
        ("win32", {}, HOME / "AppData" / "Roaming" / "netprobe"),
        ("win32", {"APPDATA": ""}, HOME / "AppData" / "Roaming" / "netprobe"),
    ],
)  # fmt: skip
def test_config_dir_per_platform(platform: str, env: dict[str, str], expected: Path) -> None:
    assert config_dir(env, platform, HOME) == expected
    assert default_marker(env, platform, HOME) == expected / MARKER_NAME


def test_config_dir_defaults_to_the_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert config_dir({}, "linux") == Path("/home/someone/.config/netprobe")


# --- when it is shown -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "stdin_tty", "stderr_tty", "marker_exists", "shown"),
    [
        (False, {}, True, True, False, True),
        (False, {}, True, True, True, False),
        (True, {}, True, True, False, False),
        (False, {NOTICE_ENV: "1"}, True, True, False, False),
        (False, {NOTICE_ENV: "yes"}, True, True, False, False),
        (False, {NOTICE_ENV: "0"}, True, True, False, True),
        (False, {NOTICE_ENV: ""}, True, True, False, True),
        (False, {NOTICE_ENV: "  "}, True, True, False, True),
        (False, {}, False, True, False, False),
        (False, {}, True, False, False, False),
        (False, {}, False, False, False, False),
        (False, {NOTICE_ENV: "0"}, False, True, False, False),
    ],
)  # fmt: skip
def test_should_show(
    tmp_path: Path,
    flag: bool,
    env: dict[str, str],
    stdin_tty: bool,
    stderr_tty: bool,
    marker_exists: bool,
    shown: bool,
) -> None:
    marker = tmp_path / "netprobe" / MARKER_NAME
    if marker_exists:
        remember(marker)
    assert (
        should_show(
            accepted_flag=flag,
            env=env,
            stdin_is_tty=stdin_tty,
            stderr_is_tty=stderr_tty,
            marker=marker,
        )
        is shown
    )


def test_should_show_without_a_marker_path() -> None:
    interactive = {"env": {}, "stdin_is_tty": True, "stderr_is_tty": True}
    assert should_show(accepted_flag=False, marker=None, **interactive) is True  # type: ignore[arg-type]
    assert should_show(accepted_flag=True, marker=None, **interactive) is False  # type: ignore[arg-type]


# --- the gate: shown once, then remembered ----------------------------------------------------


def test_gate_shows_once_then_remembers(tmp_path: Path) -> None:
    marker = tmp_path / "config" / "netprobe" / MARKER_NAME
    first = Terminal(answer=True)
    assert gate(
        text="NOTICE", accepted_flag=False, ask=first.ask, echo=first.echo,
        env={}, stdin_is_tty=True, stderr_is_tty=True, marker=marker,
    )  # fmt: skip
    assert first.printed == ["NOTICE"]
    assert first.asked == [PROMPT]
    assert marker.is_file()

    second = Terminal(answer=False)
    assert gate(
        text="NOTICE", accepted_flag=False, ask=second.ask, echo=second.echo,
        env={}, stdin_is_tty=True, stderr_is_tty=True, marker=marker,
    )  # fmt: skip
    assert second.printed == []
    assert second.asked == []


def test_gate_no_stops_and_asks_again_next_time(tmp_path: Path) -> None:
    marker = tmp_path / "netprobe" / MARKER_NAME
    for _ in range(2):
        terminal = Terminal(answer=False)
        assert not gate(
            text="NOTICE", accepted_flag=False, ask=terminal.ask, echo=terminal.echo,
            env={}, stdin_is_tty=True, stderr_is_tty=True, marker=marker,
        )  # fmt: skip
        assert terminal.printed == ["NOTICE"]
        assert not marker.exists()


@pytest.mark.parametrize(
    ("flag", "env", "stdin_tty", "stderr_tty"),
    [
        (True, {}, True, True),
        (False, {NOTICE_ENV: "1"}, True, True),
        (False, {}, False, True),
        (False, {}, True, False),
    ],
    ids=["flag", "env", "stdin-not-a-tty", "stderr-not-a-tty"],
)
def test_gate_goes_on_silently_and_writes_nothing(
    tmp_path: Path, flag: bool, env: dict[str, str], stdin_tty: bool, stderr_tty: bool
) -> None:
    marker = tmp_path / "netprobe" / MARKER_NAME
    terminal = Terminal(answer=False)
    assert gate(
        text="NOTICE", accepted_flag=flag, ask=terminal.ask, echo=terminal.echo,
        env=env, stdin_is_tty=stdin_tty, stderr_is_tty=stderr_tty, marker=marker,
    )  # fmt: skip
    assert terminal.printed == terminal.asked == []
    assert not marker.exists()


def test_gate_defaults_read_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest stdin is not a terminal: the notice must not be shown, whatever the config.
    monkeypatch.setattr(sys, "stdin", None)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv(NOTICE_ENV, raising=False)
    terminal = Terminal(answer=False)
    assert gate(text="NOTICE", accepted_flag=False, ask=terminal.ask, echo=terminal.echo)
    assert terminal.printed == []


def test_gate_without_a_home_asks_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(_notice, "default_marker", lambda _env: no_home())
    terminal = Terminal(answer=True)
    assert gate(
        text="NOTICE", accepted_flag=False, ask=terminal.ask, echo=terminal.echo,
        env={}, stdin_is_tty=True, stderr_is_tty=True,
    )  # fmt: skip
    assert terminal.printed == ["NOTICE"]


def test_confirm_only_asks() -> None:
    terminal = Terminal(answer=True)
    assert confirm("Go on?", ask=terminal.ask) is True
    assert terminal.asked == ["Go on?"]
    assert terminal.printed == []
    assert confirm("Go on?", ask=lambda _q: False) is False


# --- remember ---------------------------------------------------------------------------------


def test_remember_writes_a_private_dated_marker(tmp_path: Path) -> None:
    marker = tmp_path / "config" / "netprobe" / MARKER_NAME
    remember(marker, now=datetime(2025, 5, 9, 12, 0, tzinfo=UTC))
    assert marker.read_text(encoding="utf-8") == (
        "netprobe risks notice accepted at 2025-05-09T12:00:00+00:00\n"
    )
    assert len(marker.read_text(encoding="utf-8").splitlines()) == 1
    if os.name == "posix":
        assert stat.S_IMODE(marker.stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE(marker.parent.stat().st_mode) & 0o077 == 0


def _parent_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "netprobe").write_text("not a directory")
    return tmp_path / "netprobe" / MARKER_NAME


def _read_only_dir(tmp_path: Path) -> Path:
    if os.name != "posix" or os.geteuid() == 0:
        pytest.skip("permissions do not bind root (or non-POSIX systems)")
    tmp_path.chmod(0o500)
    return tmp_path / "netprobe" / MARKER_NAME


def _read_only_file_system(tmp_path: Path) -> Path:
    return tmp_path / "rofs" / MARKER_NAME


@pytest.mark.parametrize("where", [_parent_is_a_file, _read_only_dir, _read_only_file_system])
def test_remember_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: object
) -> None:
    marker = where(tmp_path)  # type: ignore[operator]
    if where is _read_only_file_system:

        def read_only(*_args: object, **_kwargs: object) -> int:
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(os, "open", read_only)
    try:
        remember(marker)
        assert not marker.exists()
    finally:
        tmp_path.chmod(0o700)
