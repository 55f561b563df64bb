"""The command line without a network: usage errors, exit codes, start-up cost."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netprobe.cli import main
from netprobe.cli._app import _TerminalSafeFormatter, print_json
from netprobe.cli._measure import _targets_at_once


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
