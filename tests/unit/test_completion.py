"""Shell completion, as the README's Set up section has it installed: click generates each
shell's script from ``_NETPROBE_COMPLETE``, and completing ``netprobe `` offers the
commands."""

from __future__ import annotations

import pytest
from click.shell_completion import BashComplete, FishComplete, ShellComplete, ZshComplete
from click.testing import CliRunner

from netprobe.cli import main

COMMANDS = {"run", "watch", "lists", "summarize", "compare", "analyse", "asn"}


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        (BashComplete, "complete -o nosort -F _netprobe_completion netprobe"),
        (ZshComplete, "#compdef netprobe"),
        (FishComplete, "complete --no-files --command netprobe"),
    ],
)
def test_the_completion_script_is_generated(shell: type[ShellComplete], marker: str) -> None:
    """What `_NETPROBE_COMPLETE=<shell>_source netprobe` prints."""
    script = shell(main, {}, "netprobe", "_NETPROBE_COMPLETE").source()
    assert marker in script
    assert "_NETPROBE_COMPLETE" in script  # the script calls netprobe back with it


def test_the_script_comes_from_the_environment_variable() -> None:
    """The README's line for bash, run through the command line itself."""
    env = {"_NETPROBE_COMPLETE": "bash_source"}
    result = CliRunner().invoke(main, [], env=env, prog_name="netprobe")
    assert result.exit_code == 0
    assert "_netprobe_completion" in result.stdout and "bash_complete" in result.stdout


def test_completing_the_command_offers_every_command() -> None:
    completion = BashComplete(main, {}, "netprobe", "_NETPROBE_COMPLETE")
    offered = {c.value for c in completion.get_completions([], "")}
    assert offered >= COMMANDS
    assert offered == set(main.commands)  # nothing else: no option, no file name


def test_bash_asks_and_gets_the_commands() -> None:
    """What bash's completion function does on `netprobe <TAB>`."""
    env = {"_NETPROBE_COMPLETE": "bash_complete", "COMP_WORDS": "netprobe ", "COMP_CWORD": "1"}
    result = CliRunner().invoke(main, [], env=env, prog_name="netprobe")
    assert result.exit_code == 0
    offered = {line.partition(",")[2] for line in result.stdout.splitlines()}
    assert offered >= COMMANDS


def test_a_command_prefix_completes() -> None:
    completions = BashComplete(main, {}, "netprobe", "_NETPROBE_COMPLETE").get_completions([], "su")
    assert [c.value for c in completions] == ["summarize"]
