"""Userspace link emulator: a point-to-point link with delay, random loss and a bottleneck.

tc netem is not available on the machines this testbed runs on, so the lossy network's
client<->ISP link is two TUN devices owned by this process, which relays IP packets between
them: each packet is dropped with probability ``--loss``; with ``--rate-kbit``, the rest go
through a bottleneck (a FIFO queue of QUEUE_PACKETS, served at that rate; only overflow is
dropped); then they are delivered ``--delay-ms`` later. The devices are created in this
process's namespace; the testbed then moves one of them to the client namespace (a TUN device
stays attached to its file descriptor when moved).

Prints ``READY`` once both devices exist. Each line on stdin then reconfigures both directions
at once: ``delay_ms=<float> loss=<float> rate_kbit=<float>``, any subset of the keys
(``rate_kbit=0``: no bottleneck). Each line is answered on stdout with ``OK`` and the settings
now in force (an empty line changes nothing), or ``ERROR`` and why (nothing changed). Packets
waiting in the bottleneck go on at the new rate; those past it keep the delay they were given.
Exits at EOF on stdin, so that it never outlives the testbed that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import math
import os
import random
import struct
import sys
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65535
# A router's buffer, in packets: deep enough that a bottleneck loses only what overflows it.
QUEUE_PACKETS = 500


@dataclasses.dataclass(slots=True)
class Settings:
    """What the link does now; one object shared by both directions, changed in place."""

    delay_ms: float
    loss: float
    rate_kbit: float
    """0: no bottleneck."""

    def describe(self) -> str:
        return f"delay_ms={self.delay_ms:g} loss={self.loss:g} rate_kbit={self.rate_kbit:g}"

    def update(self, line: str) -> None:
        """Apply a ``key=value ...`` line, all of it or (ValueError) none of it."""
        changes: dict[str, float] = {}
        for word in line.split():
            key, sep, text = word.partition("=")
            if not sep or key not in ("delay_ms", "loss", "rate_kbit"):
                raise ValueError(f"not delay_ms=, loss= or rate_kbit=: {word!r}")
            value = float(text)
            if not math.isfinite(value) or value < 0 or (key == "loss" and value > 1):
                raise ValueError(f"out of range: {word!r}")
            changes[key] = value
        for key, value in changes.items():
            setattr(self, key, value)


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """One direction of the link: loss, then the bottleneck, then the delay.

    The bottleneck is a FIFO served at the rate now in force (a change applies to the
    packets waiting in it too; none: they all go at once). Packets are delivered in the
    order they came: when the delay shrinks, a packet waits for those ahead of it.
    """

    def __init__(self, src: int, dst: int, settings: Settings) -> None:
        self._src, self._dst = src, dst
        self._settings = settings
        self._backlog: deque[bytes] = deque()  # in the bottleneck, the head being sent
        self._head_sent = 0.0  # when the head of the backlog will have been sent
        self._sending: asyncio.TimerHandle | None = None
        self._in_flight: deque[tuple[float, bytes]] = deque()  # (due, packet)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(src, self._receive)

    def reconfigure(self) -> None:
        """The settings changed: the packet being sent starts again at the new rate."""
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None
        if self._backlog:
            self._start_head(self._loop.time())

    def _receive(self) -> None:
        while True:
            try:
                packet = os.read(self._src, MAX_PACKET)
            except BlockingIOError:
                return
            if random.random() < self._settings.loss:
                continue
            if self._settings.rate_kbit <= 0 and not self._backlog:
                self._propagate(packet)
            elif len(self._backlog) < QUEUE_PACKETS:  # else the buffer is full: tail drop
                self._backlog.append(packet)
                if len(self._backlog) == 1:
                    self._start_head(self._loop.time())

    def _serialisation(self, packet: bytes) -> float:
        return len(packet) * 8 / (self._settings.rate_kbit * 1000)

    def _start_head(self, now: float) -> None:
        if self._settings.rate_kbit <= 0:
            while self._backlog:
                self._propagate(self._backlog.popleft())
            return
        self._head_sent = now + self._serialisation(self._backlog[0])
        self._sending = self._loop.call_at(self._head_sent, self._sent)

    def _sent(self) -> None:
        # The head, then every packet whose time has come too, reckoned from when the one
        # before it was sent rather than from when this timer fired: a late loop does not
        # slow the link down.
        self._sending = None
        now = self._loop.time()
        while self._backlog:
            self._propagate(self._backlog.popleft())
            if not self._backlog:
                return
            self._head_sent += self._serialisation(self._backlog[0])
            if self._head_sent > now:
                self._sending = self._loop.call_at(self._head_sent, self._sent)
                return

    def _propagate(self, packet: bytes) -> None:
        due = self._loop.time() + self._settings.delay_ms / 1000
        if not self._in_flight:
            self._loop.call_at(due, self._deliver)
        self._in_flight.append((due, packet))

    def _deliver(self) -> None:
        now = self._loop.time()
        while self._in_flight and self._in_flight[0][0] <= now:
            packet = self._in_flight.popleft()[1]
            # A congested or vanished device loses the packet, like a real link would.
            with contextlib.suppress(OSError):
                os.write(self._dst, packet)
        if self._in_flight:
            self._loop.call_at(self._in_flight[0][0], self._deliver)


async def relay(names: tuple[str, str], settings: Settings) -> None:
    a, b = (open_tun(name) for name in names)
    directions = (Direction(a, b, settings), Direction(b, a, settings))
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    print("READY", flush=True)
    # EOF: the testbed that started us is gone (or done with us).
    while line := await commands.readline():
        try:
            settings.update(line.decode("ascii", "replace"))
        except ValueError as error:
            print(f"ERROR {error}", flush=True)
            continue
        for direction in directions:
            direction.reconfigure()
        print(f"OK {settings.describe()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs=2, help="the two TUN device names")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="one-way delay")
    parser.add_argument("--loss", type=float, default=0.12, help="drop probability per packet")
    parser.add_argument(
        "--rate-kbit", type=float, default=0.0, help="bottleneck rate each way (0: none)"
    )
    args = parser.parse_args()
    settings = Settings(args.delay_ms, args.loss, args.rate_kbit)
    asyncio.run(relay((args.names[0], args.names[1]), settings))


if __name__ == "__main__":
    main()
