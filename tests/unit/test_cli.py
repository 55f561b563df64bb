"""The command line without a network: usage errors, exit codes, start-up cost."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netprobe.cli import main
from netprobe.cli._app import _TerminalSafeFormatter, print_json
from netprobe.cli._measure import _targets_at_once
from netprobe.output.table import sanitize


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "ftp://example.org/"], "ftp"),
        (["run", "https://exa mple.org/"], "exa mple.org"),
        (["run", "https://example.org:99999/"], "port"),
        (["run", "-l", "nosuchlist"], "nosuchlist"),
        (["run", "-f", "/nonexistent/targets.txt"], "/nonexistent/targets.txt"),
        (["run", "--resolver", "not a resolver", "https://example.org/"], "not a resolver"),
        (["run", "--control-resolver", "gopher://x", "https://example.org/"], "gopher://x"),
        (["run", "--ca-bundle", "/nonexistent.pem", "https://example.org/"], "/nonexistent.pem"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    # A resolver is named so that no test depends on this machine's resolv.conf.
    resolver = [] if "--resolver" in args else ["--resolver", "127.0.0.1"]
    code, stdout, stderr = invoke(*args, *resolver)
    assert code == 2, stderr
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], stderr
    assert "Traceback" not in stderr


def test_bad_line_in_target_file_names_file_and_line(tmp_path: Path) -> None:
    targets = tmp_path / "mine.txt"
    targets.write_text("# my list\nexample.org\nhttps://exa mple.org/\n", encoding="utf-8")
    code, _, stderr = invoke("run", "-f", str(targets), "--resolver", "127.0.0.1")
    assert code == 2
    assert f"{targets}:3:" in stderr


def test_unknown_option_is_a_usage_error() -> None:
    code, _, _ = invoke("run", "--no-such-option")
    assert code == 2


def test_lists_shows_every_builtin_list() -> None:
    code, stdout, _ = invoke("lists")
    assert code == 0
    for name in ("social", "news", "messaging"):
        assert name in stdout


def test_help_does_not_import_heavy_modules() -> None:
    probe = (
        "import sys; from netprobe.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'dns', 'rich', 'pyasn', 'netprobe.measure.runner')\n"
        "assert not [m for m in heavy if m in sys.modules], sorted(sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "netprobe run" in done.stdout or "run" in done.stdout


def test_python_dash_m_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "netprobe", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "netprobe" in done.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["asn", "lookup", "not-an-ip"], "not-an-ip"),
        (["asn", "lookup", "--asn-db", "/nonexistent/ipasn.dat", "192.0.2.1"], "asn update"),
        (["run", "--asn-db", "/nonexistent/ipasn.dat", "https://example.org/"], "asn update"),
        (["run", "--cc", "KAZ", "https://example.org/"], "KAZ"),
        (["run", "--ip-service", "ftp://x/", "https://example.org/"], "ftp://x/"),
    ],
)
def test_asn_usage_errors(args: list[str], fragment: str) -> None:
    code, stdout, stderr = invoke(*args, *(["--resolver", "127.0.0.1"] if args[0] == "run" else []))
    assert code == 2, stderr
    assert stdout == "" and fragment in stderr and "Traceback" not in stderr


def test_asn_lookup_from_a_data_file(tmp_path: Path) -> None:
    db = tmp_path / "ipasn.dat"
    db.write_text("; test\n93.184.0.0/15\t9198\n")
    (tmp_path / "asnames.json").write_text('{"9198": "KAZTELECOM-AS, KZ"}')
    code, stdout, _ = invoke("asn", "lookup", "--asn-db", str(db), "--format", "json", "93.184.5.5")
    assert code == 0
    assert json.loads(stdout) == [
        {
            "address": "93.184.5.5",
            "asn": 9198,
            "prefix": "93.184.0.0/15",
            "as_name": "KAZTELECOM-AS",
            "cc": "KZ",
            "source": "pyasn",
            "note": None,
        }
    ]


NASTY = [
    "\x1b[2J\x1b]0;pwned\x07",  # clear screen, set the window title
    "\x9b31m",  # C1 control sequence introducer
    "\u202eevil\u202c",  # bidi override
    "\u2066isolate\u2069",
    "\x00\x7f\r",
]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("compact", [False, True])
def test_json_on_a_terminal_carries_no_control_character(
    monkeypatch: pytest.MonkeyPatch, compact: bool
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    document = {"title": NASTY, "evidence": " ".join(NASTY), NASTY[2]: 1}
    print_json(document, text="not used on a terminal", compact=compact)
    out = terminal.getvalue()
    assert json.loads(out) == document
    assert out.isascii() and "\x1b" not in out and "\x00" not in out and "\r" not in out


def test_json_for_programs_stays_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stdout", pipe)
    print_json({"title": "Доступ ограничен"}, compact=True)
    assert pipe.getvalue() == '{"title": "Доступ ограничен"}\n'


def test_a_system_without_resource_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no `resource` module: the open-file limit is not raised, nothing fails."""
    monkeypatch.setitem(sys.modules, "resource", None)  # import resource -> ImportError
    assert _targets_at_once(1024) == 1024


def test_concurrency_fits_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    class Limits:
        RLIMIT_NOFILE, RLIM_INFINITY = 7, -1

        @staticmethod
        def getrlimit(_which: int) -> tuple[int, int]:
            return 256, 256  # macOS's usual soft limit, and a hard one that will not rise

        @staticmethod
        def setrlimit(_which: int, _limits: tuple[int, int]) -> None:
            raise ValueError("not allowed")

    monkeypatch.setitem(sys.modules, "resource", Limits)
    assert _targets_at_once(1024) == (256 - 64) // 6


def test_log_lines_carry_no_control_character() -> None:
    record = logging.LogRecord(
        "netprobe", logging.WARNING, __file__, 1, "server said %s", (" ".join(NASTY),), None
    )
    line = _TerminalSafeFormatter("netprobe: %(message)s").format(record)
    assert line.startswith("netprobe: server said ")
    assert not any(ch in line for ch in "\x1b\x9b\u202e\u2066\x00\x7f\r")


# The table as `netprobe run` prints it (`_print_results`, nothing measured), on a pseudo-
# terminal: a long URL, and an AS name from a data file that tries to drive the terminal.
_TABLE_DRIVER = """
import sys
from datetime import UTC, datetime, timedelta

from netprobe.cli._measure import _print_results
from netprobe.measure import ProbeOptions, make_verify_context, parse_resolver
from netprobe.measure.asn import ASNResolver
from netprobe.measure.session import Plan
from netprobe.model.observations import HTTPObservation, Observations
from netprobe.model.results import Analysis, Latency, RunResult, TargetResult
from netprobe.model.targets import parse_target
from netprobe.output.report import ProbeInfo

LONG_URL, AS_NAME, EVIDENCE = sys.argv[2:5]


def result(url, verdict, blocking=None, evidence=None):
    target = parse_target(url)
    page = HTTPObservation(target.url, "198.19.1.1", target.domain, "target", 0, 0.0, 20.0,
                           None, 16.4, 200, (), "Testbed site")
    obs = Observations(target.url, target.domain, target.scheme, target.port, http=(page,))
    return TargetResult(target, obs, Analysis(verdict, blocking, evidence), Latency.of(obs))


options = ProbeOptions(
    resolver=parse_resolver("192.0.2.53"),
    control_resolvers=(parse_resolver("https://cloudflare-dns.com/dns-query"),
                       parse_resolver("https://dns.google/dns-query")),
    verify=make_verify_context(None),
)
plan = Plan(targets=(), services=(), options=options,
            networks=ASNResolver(None, use_cymru=False))
started = datetime(2026, 1, 1, tzinfo=UTC)
run = RunResult(started, started + timedelta(seconds=3.4), [
    result("https://www.clean.test/", "accessible"),
    result(LONG_URL, "blocked", "tls.reset", EVIDENCE),
])
info = ProbeInfo(str(options.resolver), tuple(str(r) for r in options.control_resolvers),
                 9198, AS_NAME, "KZ", ip="203.0.113.77")
_print_results(run, info, "table", plan, None, sys.argv[1] == "quiet", None)
"""
LONG_URL = "https://www.long-path.example.test/" + "x" * 160 + "/end"  # 200 characters
LONG_AS_NAME = "Kazakhtelecom JSC \x1b]0;pwned\x07\x1b[2J\u202e" + "long-name " * 9  # 120
RESET_EVIDENCE = (
    "TLS handshake with SNI www.long-path.example.test to 198.19.1.15:443 reset, 3 times out "
    "of 3; in between, handshakes with SNI example.org to the same address completed (2 of 2)"
)
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # rich's own styles: legitimate on a terminal


def _table_on_a_terminal(tmp_path: Path, columns: int, quiet: bool) -> list[str]:
    """What a terminal of ``columns`` shows, rich's colours taken out, line by line."""
    driver = tmp_path / "driver.py"
    driver.write_text(_TABLE_DRIVER, encoding="utf-8")
    argv = [sys.executable, str(driver), "quiet" if quiet else "loud", LONG_URL, LONG_AS_NAME,
            RESET_EVIDENCE]  # fmt: skip
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    done = subprocess.run(
        ["script", "-qec", shlex.join(argv), "/dev/null"],
        stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, out + done.stderr.decode("utf-8", "replace")
    assert "\x1b[" in out, "not a colour terminal: the check below would prove nothing"
    shown = _COLOURS.sub("", out)
    # No escape from the AS name (or anything else) reaches the terminal, nor a bidi control.
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, repr(shown)
    return shown.replace("\r\n", "\n").splitlines()


@pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("script") is None,
    reason="needs util-linux `script` for a pseudo-terminal",
)
@pytest.mark.parametrize("quiet", [False, True], ids=["header", "quiet"])
@pytest.mark.parametrize("columns", [80, 200])
def test_table_header_and_summary_on_a_terminal(tmp_path: Path, columns: int, quiet: bool) -> None:
    """Where it was measured from: above the table, or with -q after the summary; broken
    between its parts on a narrow terminal; every line within the terminal's width."""
    lines = [line.rstrip() for line in _table_on_a_terminal(tmp_path, columns, quiet)]
    text = "\n".join(lines)
    assert all(len(line) <= columns for line in lines), text
    assert "203.0.113.77" not in text  # the probe's own address, never on screen
    table = next(i for i, line in enumerate(lines) if line.split()[:1] == ["target"])
    summary = next(i for i, line in enumerate(lines) if line.startswith("2 targets: "))
    assert lines[table].split()[-1] == "ms" and lines[table + 2].endswith(" 16"), text
    assert lines[summary].startswith("2 targets: 1 accessible, 1 blocked (1 tls.*) in 3.4 s")
    where = [line for line in (lines[summary:] if quiet else lines[:table]) if line]
    network = f"AS9198 {sanitize(LONG_AS_NAME)}, KZ"  # wider than 80 columns
    parts = [
        *(["2 targets: 1 accessible, 1 blocked (1 tls.*) in 3.4 s"] if quiet else []),
        network,
        "resolver 192.0.2.53",
        "control: DoH cloudflare-dns.com, dns.google",
    ]
    assert " ".join(where).replace(" · ", " ") == " ".join(parts), text
    # A line breaks between parts, never inside one unless the part is wider than the line.
    for part in parts:
        assert any(part in line for line in where) == (len(part) <= columns), text
    words = " ".join(" ".join(lines[table:summary]).split())
    for word in RESET_EVIDENCE.split():  # nothing of the evidence cropped
        assert word in words, text
