"""The risks notice: what a run lets others see, shown once before the first interactive run.

In the command (about five lines)::

    text = notice_text(control_resolvers=controls, control_proxy=proxy, ip_services=None,
                       identity_offline=False, include_ip=False)
    if not gate(text=text, accepted_flag=yes,
                ask=lambda q: click.confirm(q, default=False, err=True),
                echo=lambda s: click.echo(s, err=True)):
        click.echo(STOPPED_MESSAGE, err=True)  # "netprobe: stopped: risks not accepted"
        sys.exit(1)

:func:`gate` shows the notice only when :func:`should_show` says so (not accepted by
``--yes`` or :data:`NOTICE_ENV`, stdin and stderr both terminals, not accepted before), and
on a yes :func:`remember` writes a marker file under :func:`config_dir`. Everything but
:func:`remember` and :func:`gate`'s defaults is pure: the text, the paths and the decision
take what they need as arguments.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TextIO

__all__ = [
    "DEFAULT_ECHO_SERVICES",
    "MARKER_NAME",
    "NOTICE_ENV",
    "PROMPT",
    "STOPPED_MESSAGE",
    "accepted_by_env",
    "config_dir",
    "confirm",
    "default_marker",
    "gate",
    "notice_text",
    "remember",
    "should_show",
]

NOTICE_ENV: Final = "NETPROBE_ACCEPT_RISKS"
"""Set to any non-empty value other than ``0`` to accept the notice without being asked."""

MARKER_NAME: Final = "risks-accepted-1"
"""The marker file in :func:`config_dir`. The number changes when the notice says something
materially new, so that everyone is asked again."""

PROMPT: Final = "Measure from this network now?"
"""The question asked after the notice (``click.confirm`` adds ``[y/N]``)."""

STOPPED_MESSAGE: Final = "netprobe: stopped: risks not accepted"
"""What the command prints, on stderr, before exiting 1 when the answer is no."""

DEFAULT_ECHO_SERVICES: Final = (
    "OpenDNS",
    "Google",
    "Cloudflare",
    "api.ipify.org",
    "ipv4.icanhazip.com",
    "checkip.amazonaws.com",
)
"""Who finds the public address when no ``--ip-service`` is given: the DNS echo names'
operators, then the hosts of ``netprobe.measure.identity.DEFAULT_HTTP_ECHO_SERVICES`` (not imported:
that module pulls in DNS code, and the notice is shown before anything heavy loads)."""

_Party = tuple[str, Sequence[str], str]
"""Who is contacted: a label, the names (may be empty), and what they see (may be empty)."""

_WIDTH = 78
_MAX_LINES = 15
_MAX_NAME = 40


def notice_text(
    *,
    control_resolvers: Sequence[str],
    control_proxy: str | None,
    ip_services: Sequence[str] | None,
    identity_offline: bool,
    include_ip: bool,
    cymru: bool = True,
) -> str:
    """The notice for this run's options: at most 15 lines of at most 78 columns.

    ``control_resolvers``: the specs in use (the defaults when the user gave none);
    ``ip_services``: the ``--ip-service`` URLs, None (or empty) for the default echo
    services; ``identity_offline``: ``--offline-identity`` or ``--asn`` (no public address
    is looked up); ``cymru``: whether AS lookups may go to Team Cymru, i.e. no IPASN data
    file (when unsure, leave it true: naming a party that is not asked is the safe error).

        >>> text = notice_text(control_resolvers=["https://dns.google/dns-query"],
        ...                    control_proxy=None, ip_services=None,
        ...                    identity_offline=True, include_ip=False, cymru=False)
        >>> "dns.google" in text, "ipify" in text, len(text.splitlines()) <= 15
        (True, False, True)
    """
    controls = [_short(spec) for spec in control_resolvers]
    parties: list[_Party] = [("the control resolvers", controls, "which see every name")]
    if not identity_offline:
        echoes = [_short(url) for url in ip_services] if ip_services else []
        parties.append(
            ("the public-address echo services", echoes or list(DEFAULT_ECHO_SERVICES), "")
        )
    if cymru:
        # The AS lookups are DNS queries relayed by the first control resolver, so Team
        # Cymru sees that resolver, not this machine; what it learns is which addresses.
        via = f", via {controls[0]}," if controls else ""
        whose = "the sites' addresses" if identity_offline else "your address and the sites'"
        parties.append((f"Team Cymru's DNS service{via} for the networks of {whose}", [], ""))
    if control_proxy:
        parties.append(
            ("the control proxy", [_short(control_proxy)], "which fetches every site too")
        )

    head = [
        "netprobe: before the first run, what measuring lets others see",
        *_bullet(
            "It fetches the listed sites from this network: its operator, or anyone "
            "watching it, sees each name (DNS, TLS SNI) and http:// pages in full."
        ),
    ]
    if include_ip and not identity_offline:
        kept = "The report will hold this network's public IP address (--include-ip)."
    elif include_ip:
        kept = "The report keeps no IP address: this run does not look one up for --include-ip."
    else:
        kept = "The report keeps no IP address of yours, unless you pass --include-ip."
    tail = [
        *_bullet(kept),
        *_bullet(
            "Testing blocked sites is illegal or risky in some places: if it may be for "
            "you, stop here."
            + (
                ""
                if identity_offline
                else " --offline-identity (or --asn N --cc XX) contacts only the sites and "
                f"the control {'resolvers and proxy' if control_proxy else 'resolvers'}."
            )
        ),
        *_bullet(f"This is asked once. In scripts: --yes, or {NOTICE_ENV}=1."),
    ]
    budget = _MAX_LINES - len(head) - len(tail)
    return "\n".join([*head, *_contacts(parties, budget), *tail])


def config_dir(
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    home: Path | None = None,
) -> Path:
    """Where netprobe remembers things for this user (nothing is created here).

    ``$XDG_CONFIG_HOME/netprobe`` or ``~/.config/netprobe`` on Linux and the BSDs,
    ``~/Library/Application Support/netprobe`` on macOS, ``%APPDATA%\\netprobe`` on Windows
    (``~\\AppData\\Roaming\\netprobe``, where APPDATA normally points, when it is unset).

        >>> config_dir({"XDG_CONFIG_HOME": "/cfg"}, "linux")
        PosixPath('/cfg/netprobe')

    Raises RuntimeError, as :meth:`Path.home` does, when ``home`` is None and no home
    directory can be found.
    """
    if platform == "win32":
        appdata = env.get("APPDATA")
        if appdata:
            return Path(appdata) / "netprobe"
        return (home or Path.home()) / "AppData" / "Roaming" / "netprobe"
    if platform == "darwin":
        return (home or Path.home()) / "Library" / "Application Support" / "netprobe"
    xdg = env.get("XDG_CONFIG_HOME")
    # The XDG spec says a relative path is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "netprobe"
    return (home or Path.home()) / ".config" / "netprobe"


def default_marker(
    env: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    home: Path | None = None,
) -> Path:
    """The marker file that says the notice was accepted: ``config_dir(...) / MARKER_NAME``."""
    return config_dir(env, platform, home) / MARKER_NAME


def accepted_by_env(env: Mapping[str, str]) -> bool:
    """Whether :data:`NOTICE_ENV` accepts: set, not blank, and not ``0``."""
    value = env.get(NOTICE_ENV, "").strip()
    return value not in ("", "0")


def should_show(
    *,
    accepted_flag: bool,
    env: Mapping[str, str],
    stdin_is_tty: bool,
    stderr_is_tty: bool,
    marker: Path | None,
) -> bool:
    """Whether to show the notice and ask.

    Not when accepted by ``--yes`` or :data:`NOTICE_ENV`, not unless both stdin and stderr
    are terminals (a script or CI job cannot answer, and must not hang or fail), not when
    ``marker`` exists. The file system is touched last, only when everything else says
    yes; a marker that cannot be checked, or None (no home directory), counts as absent.

        >>> should_show(accepted_flag=False, env={}, stdin_is_tty=False,
        ...             stderr_is_tty=True, marker=Path("/nonexistent"))
        False
    """
    if accepted_flag or accepted_by_env(env) or not (stdin_is_tty and stderr_is_tty):
        return False
    if marker is None:
        return True
    try:
        return not marker.exists()
    except OSError:
        return True


def remember(marker: Path, *, now: datetime | None = None) -> None:
    """Write ``marker`` (a 0o600 file in a 0o700 directory) saying when it was accepted.

    Never raises OSError: a read-only or missing home must not stop a run; the notice is
    then simply asked again next time.

        remember(default_marker())
    """
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    line = f"netprobe risks notice accepted at {when}\n"
    try:
        marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(marker, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(line)
    except OSError:
        return


def confirm(text: str, *, ask: Callable[[str], bool]) -> bool:
    """Ask ``text`` through ``ask`` and return the answer; prints nothing itself.

    confirm(PROMPT, ask=lambda q: click.confirm(q, default=False, err=True))
    """
    return bool(ask(text))


def gate(
    *,
    text: str,
    accepted_flag: bool,
    ask: Callable[[str], bool],
    echo: Callable[[str], None],
    env: Mapping[str, str] | None = None,
    stdin_is_tty: bool | None = None,
    stderr_is_tty: bool | None = None,
    marker: Path | None = None,
) -> bool:
    """Show the notice if needed and return whether to go on.

    When :func:`should_show` says no, returns True without a word. Otherwise ``echo``
    prints ``text``, ``ask`` asks :data:`PROMPT`; a yes is remembered (:func:`remember`)
    and returns True, a no returns False and is not remembered. Arguments left None are
    read from the process: ``os.environ``, ``sys.stdin``/``sys.stderr``, and
    :func:`default_marker` (when no home directory can be found, the notice is asked
    every time).

        if not gate(text=text, accepted_flag=yes, ask=ask, echo=echo):
            ...  # print STOPPED_MESSAGE, exit 1
    """
    env = os.environ if env is None else env
    if marker is None:
        try:
            marker = default_marker(env)
        except RuntimeError:
            marker = None
    shown = should_show(
        accepted_flag=accepted_flag,
        env=env,
        stdin_is_tty=_isatty(sys.stdin) if stdin_is_tty is None else stdin_is_tty,
        stderr_is_tty=_isatty(sys.stderr) if stderr_is_tty is None else stderr_is_tty,
        marker=marker,
    )
    if not shown:
        return True
    echo(text)
    if not confirm(PROMPT, ask=ask):
        return False
    if marker is not None:
        remember(marker)
    return True


def _isatty(stream: TextIO | None) -> bool:
    # sys.stdin is None under pythonw, and a closed stream raises on isatty().
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def _short(spec: str) -> str:
    """A resolver spec, proxy or echo URL as shown: its host[:port], never credentials."""
    name = spec
    if "://" in spec:
        # By hand: urlsplit raises on some malformed netlocs, and this must not.
        netloc = spec.split("://", 1)[1]
        for end in "/?#":
            netloc = netloc.split(end, 1)[0]
        name = netloc.rpartition("@")[2] or spec
    name = "".join(ch for ch in name if ch.isprintable() and not ch.isspace())
    return name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 3] + "..."


def _bullet(sentence: str) -> list[str]:
    return textwrap.wrap(
        sentence,
        width=_WIDTH,
        initial_indent=" - ",
        subsequent_indent="   ",
        break_on_hyphens=False,
        break_long_words=True,
    )


def _contacts(parties: Sequence[_Party], budget: int) -> list[str]:
    """The "it also contacts" bullet in ``budget`` lines, long lists cut to "and N more"."""
    longest = max((len(names) for _, names, _ in parties), default=0)
    for shown in range(longest, 0, -1):
        lines = _bullet(_contacts_sentence(parties, shown))
        if len(lines) <= budget:
            return lines
    return _bullet(_contacts_sentence(parties, 1))[:budget]


def _contacts_sentence(parties: Sequence[_Party], shown: int) -> str:
    groups = []
    for label, names, sees in parties:
        group = label
        if names:
            group += " " + ", ".join(names[:shown])
            if len(names) > shown:
                group += f" and {len(names) - shown} more"
        if sees:
            group += f", {sees}"
        groups.append(group)
    return "It also contacts " + "; ".join(groups) + "."
