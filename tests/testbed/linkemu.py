"""Userspace link emulator: a point-to-point link with delay and random loss.

tc netem is not available on the machines this testbed runs on, so the lossy network's
client<->ISP link is two TUN devices owned by this process, which relays IP packets between
them: each packet is dropped with probability ``--loss``, else delivered ``--delay-ms`` later.
The devices are created in this process's namespace; the testbed then moves one of them to
the client namespace (a TUN device stays attached to its file descriptor when moved).

Prints ``READY`` once both devices exist and exits when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import random
import struct
import sys
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65535


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """One direction of the link. Delay is constant, so a FIFO queue keeps packet order."""

    def __init__(self, src: int, dst: int, delay: float, loss: float) -> None:
        self._src, self._dst = src, dst
        self._delay, self._loss = delay, loss
        self._queue: deque[tuple[float, bytes]] = deque()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(src, self._receive)

    def _receive(self) -> None:
        while True:
            try:
                packet = os.read(self._src, MAX_PACKET)
            except BlockingIOError:
                return
            if random.random() < self._loss:
                continue
            if not self._queue:
                self._loop.call_later(self._delay, self._deliver)
            self._queue.append((self._loop.time() + self._delay, packet))

    def _deliver(self) -> None:
        now = self._loop.time()
        while self._queue and self._queue[0][0] <= now:
            packet = self._queue.popleft()[1]
            # A congested or vanished device loses the packet, like a real link would.
            with contextlib.suppress(OSError):
                os.write(self._dst, packet)
        if self._queue:
            self._loop.call_at(self._queue[0][0], self._deliver)


async def relay(names: tuple[str, str], delay: float, loss: float) -> None:
    a, b = (open_tun(name) for name in names)
    Direction(a, b, delay, loss)
    Direction(b, a, delay, loss)
    stdin_closed = asyncio.Event()
    # Nobody writes to our stdin: it only becomes readable at EOF, when the testbed is gone.
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stdin_closed.set)
    print("READY", flush=True)
    await stdin_closed.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs=2, help="the two TUN device names")
    parser.add_argument("--delay-ms", type=float, default=200.0, help="one-way delay")
    parser.add_argument("--loss", type=float, default=0.12, help="drop probability per packet")
    args = parser.parse_args()
    asyncio.run(relay((args.names[0], args.names[1]), args.delay_ms / 1000, args.loss))


if __name__ == "__main__":
    main()
