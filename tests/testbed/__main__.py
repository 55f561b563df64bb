"""Bring the testbed up by hand: ``sudo python -m tests.testbed up|shell NETWORK|down``.

``up`` stays in the foreground until Ctrl-C (or SIGTERM), then tears everything down.
``shell NETWORK`` brings it up, opens a shell in that network's client namespace and tears
down when the shell exits. ``down`` removes what a crashed run left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from tests.testbed.topology import (
    NETWORKS,
    SITES,
    Testbed,
    TestbedError,
    acquire_lock,
    remove_leftovers,
)


def _summary(testbed: Testbed) -> str:
    lines = [f"testbed up in {testbed.up_seconds:.2f} s", f"CA bundle: {testbed.ca_bundle}"]
    lines.append(f"control resolver: {testbed.control_resolver}")
    lines.append(
        f"failing control resolvers: {testbed.servfail_resolver} (SERVFAIL),"
        f" {testbed.silent_resolver} (silent), {testbed.wrong_name_doh} (wrong certificate);"
        f" good DoH: {testbed.good_doh}"
    )
    for network in testbed.networks.values():
        lines.append(
            f"network {network.name:9} client ns {network.client_ns:15} resolver {network.resolver}"
        )
    lines.append("sites (censored network interference):")
    for site in SITES:
        what = ", ".join(x for x in (site.dns and f"dns {site.dns}", site.block) if x) or "none"
        lines.append(f"  {site.url:32} {site.ip or '-':12} {what}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="bring the testbed up until Ctrl-C")
    shell = commands.add_parser("shell", help="bring it up and open a shell in a client ns")
    shell.add_argument("network", choices=[network.name for network in NETWORKS])
    commands.add_parser("down", help="remove leftovers of a crashed run")
    args = parser.parse_args()

    if args.command == "down":
        try:
            lock = acquire_lock(wait=0)
        except TestbedError as error:
            print(f"{error}: stop it (Ctrl-C) instead", file=sys.stderr)
            return 1
        with lock:
            remove_leftovers()
        return 0

    testbed = Testbed()
    try:
        testbed.up()
    except TestbedError as error:
        print(error, file=sys.stderr)
        return 1
    try:
        print(_summary(testbed), flush=True)
        if args.command == "up":
            print("Ctrl-C to tear down", flush=True)
            signal.pause()
            return 0
        network = testbed.networks[args.network]
        env = {**os.environ, "TESTBED_CA": str(testbed.ca_bundle)}
        shell_path = os.environ.get("SHELL", "/bin/bash")
        argv = ["ip", "netns", "exec", network.client_ns, shell_path]
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        testbed.down()
        print(f"testbed down in {testbed.down_seconds:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
