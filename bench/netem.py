"""``python -m bench.netem``: a weak mobile link on 127.0.0.1, as a throttling TCP proxy (pure asyncio).

    python -m bench.netem --profile 2g --listen 127.0.0.1:9000 --target 127.0.0.1:8000
    python -m bench.netem --profile 3g --target 127.0.0.1:8000 --rtt-ms 600     # a profile, one figure changed

Every connection to ``--listen`` is relayed to ``--target`` through one shared link with, per direction, a
bandwidth (bytes are serialised at the rate, as on a radio link: concurrent connections share it), half the
round-trip time as propagation delay, and one round trip before a new connection carries data (the TCP
handshake; TLS is not modelled). The link drops every ``cut_bytes`` bytes carried (both directions together) or
every ``cut_every_s`` seconds, as a phone's radio losing the network: each live connection is reset on the
client's side (RST), so the phone sees its request fail; the bytes that had already crossed the link upwards still
reach the server, which then sees the connection end (FIN) and the request body short; what was on its way down
to the phone is lost. Bytes are counted as they cross the link, per direction, lost ones included (they took the
link's time).

Why a proxy and not ``tc netem`` in a network namespace: the proxy needs no privilege and no kernel module (the
machines this project runs on have no ``sch_netem``), and it cuts at an exact byte count, which makes the field
day repeatable. What it does not model: packet loss and TCP retransmission, a silent drop (the server here learns
of a cut at once, where a real server waits for its read timeout, holding the request open until then), and a
radio's wake-up delay.

From Python (the field day and the tests)::

    with Netem(("127.0.0.1", 8000), PROFILES["2g"]) as link:
        url = f"http://127.0.0.1:{link.port}/"
        ...
        print(link.stats())          # LinkStats(up_bytes=..., down_bytes=..., connections=..., cuts=...)

The CLI prints the counters every ``--report-every`` seconds and once more on Ctrl-C.
"""

import argparse
import asyncio
import contextlib
import socket
import struct
import sys
import threading
from dataclasses import dataclass, replace

CHUNK = 4096  # the most one read takes before it is throttled: a few packets, so a cut lands within 4 KB
# A token bucket's depth, in seconds of the rate: a link idle for less than this is taken as still busy, so that
# the event loop's late wake-ups (a millisecond per chunk) do not lower the rate.
BURST_S = 0.02


@dataclass(frozen=True)
class Profile:
    """A link. Rates in bytes per second (0: unlimited), times in seconds; a cut figure of 0 means never."""

    name: str
    up_bps: float  # client to server
    down_bps: float  # server to client
    rtt_s: float
    cut_bytes: int = 0
    cut_every_s: float = 0.0
    source: str = ""

    def scaled(self, factor: float, name: str | None = None) -> "Profile":
        """The same link ``factor`` times faster: rates and the cut's byte count multiplied, times divided."""
        return replace(
            self,
            name=name or f"{self.name}/{factor:g}",
            up_bps=self.up_bps * factor,
            down_bps=self.down_bps * factor,
            rtt_s=self.rtt_s / factor,
            cut_bytes=int(self.cut_bytes * factor),
            cut_every_s=self.cut_every_s / factor,
        )

    def describe(self) -> str:
        def rate(bps: float) -> str:
            return f"{bps / 1000:g} KB/s" if bps else "unlimited"

        cut = []
        if self.cut_bytes:
            cut.append(f"every {self.cut_bytes / 1e6:g} MB")
        if self.cut_every_s:
            cut.append(f"every {self.cut_every_s:g} s")
        return (
            f"{self.name}: up {rate(self.up_bps)}, down {rate(self.down_bps)}, RTT {self.rtt_s * 1000:g} ms, "
            f"cut {' and '.join(cut) or 'never'}"
        )


PROFILES = {
    # A 2G/EDGE link in a valley, as issue 13 describes the commissioners' phones: about 30 KB/s, a 300 ms round
    # trip, and a drop every megabyte (about every half minute at that rate).
    "2g": Profile(
        "2g", up_bps=30_000, down_bps=30_000, rtt_s=0.300, cut_bytes=1_000_000, source="the project's field reports"
    ),
    # WebPageTest's "3G Slow" connectivity profile (400 kbit/s each way, 400 ms RTT), the weak end of 3G and the
    # upper end of the 20-50 KB/s the field reports give; a drop every three minutes (about 9 MB at that rate).
    "3g": Profile(
        "3g",
        up_bps=50_000,
        down_bps=50_000,
        rtt_s=0.400,
        cut_every_s=180.0,
        source="WebPageTest connectivity profile 3GSlow (400/400 kbit/s, 400 ms RTT)",
    ),
}


@dataclass(frozen=True)
class LinkStats:
    up_bytes: int  # client to server, counted as they crossed the link
    down_bytes: int
    connections: int  # accepted since the start
    cuts: int

    @property
    def total_bytes(self) -> int:
        return self.up_bytes + self.down_bytes

    def __sub__(self, other: "LinkStats") -> "LinkStats":
        return LinkStats(
            self.up_bytes - other.up_bytes,
            self.down_bytes - other.down_bytes,
            self.connections - other.connections,
            self.cuts - other.cuts,
        )


class _Direction:
    """One direction of the link: a serialisation clock at the rate, shared by every connection."""

    def __init__(self, rate: float):
        self.rate = rate
        self.free_at = 0.0  # when the link finishes serialising what it was given (loop time)
        self.bytes = 0

    def reserve(self, n: int, now: float) -> float:
        """Puts ``n`` bytes on the link; returns when their last byte has left (loop time)."""
        self.bytes += n
        if not self.rate:
            return now
        self.free_at = max(self.free_at, now - BURST_S) + n / self.rate
        return self.free_at


class _Connection:
    def __init__(self, client: asyncio.StreamWriter):
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []
        self.to_server: asyncio.Queue | None = None  # (delivery time, bytes) that crossed the link upwards
        self.server_sender: asyncio.Task | None = None

    def reset(self) -> None:
        """Both sides reset at once (RST), nothing more delivered."""
        for writer in (self.client, self.server):
            if writer is not None:
                _abort(writer)
        for task in self.tasks:
            task.cancel()

    def drop(self) -> None:
        """The link drops at the phone's radio: the client's connection is reset (RST) at once; what had already
        crossed the link upwards still reaches the server, which then sees the connection end (FIN)."""
        _abort(self.client)
        for task in self.tasks:
            if task is not self.server_sender:
                task.cancel()
        if self.server_sender is not None and not self.server_sender.done():
            self.to_server.put_nowait((0.0, _CLOSE))
        elif self.server is not None:
            _abort(self.server)


_CLOSE = object()  # in a delivery queue: flush what is before it, then close


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    writer.transport.abort()


class Link:
    """The proxy inside a running event loop: ``await link.start()``, then ``await link.close()``."""

    def __init__(self, target: tuple[str, int], profile: Profile, listen: tuple[str, int] = ("127.0.0.1", 0)):
        self.target = target
        self.profile = profile
        self.listen = listen
        self.up = _Direction(profile.up_bps)
        self.down = _Direction(profile.down_bps)
        self.next_cut = profile.cut_bytes
        self.connections = 0
        self.cuts = 0
        self.live: set[_Connection] = set()
        self.server: asyncio.Server | None = None
        self.timer: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()

    def stats(self) -> LinkStats:
        return LinkStats(self.up.bytes, self.down.bytes, self.connections, self.cuts)

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, *self.listen)
        if self.profile.cut_every_s:
            self.timer = asyncio.create_task(self._cut_every(self.profile.cut_every_s))

    async def close(self) -> None:
        if self.timer:
            self.timer.cancel()
        self.server.close()
        for conn in list(self.live):
            conn.reset()
        self.live.clear()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def cut(self) -> None:
        """The link drops: every live connection is dropped (``_Connection.drop``)."""
        self.cuts += 1
        for conn in list(self.live):
            conn.drop()
        self.live.clear()

    async def _cut_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.cut()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Connection(client_writer)
        self.live.add(conn)
        try:
            await asyncio.sleep(self.profile.rtt_s)  # SYN, SYN-ACK: nothing is carried before one round trip
            server_reader, conn.server = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            conn.reset()
            self.live.discard(conn)
            return
        if conn not in self.live:  # cut during the handshake
            conn.reset()
            return
        conn.tasks = [
            self._spawn(self._pump(client_reader, conn.server, self.up, conn)),
            self._spawn(self._pump(server_reader, client_writer, self.down, conn)),
        ]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        if conn in self.live:
            self.live.discard(conn)
            for writer in (conn.client, conn.server):
                writer.close()

    async def _pump(self, reader, writer, direction: _Direction, conn: _Connection) -> None:
        """Reads at the link's rate, delivers half a round trip later (a second task, so the delay pipelines)."""
        loop = asyncio.get_running_loop()
        one_way = self.profile.rtt_s / 2
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver():
            try:
                while True:
                    at, data = await queue.get()
                    delay = at - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if data is None:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    if data is _CLOSE:
                        writer.close()
                        return
                    writer.write(data)
                    await writer.drain()
            except OSError:  # the other end went away: the whole connection goes
                conn.reset()
                self.live.discard(conn)

        sender = self._spawn(deliver())
        conn.tasks.append(sender)
        if direction is self.up:
            conn.to_server, conn.server_sender = queue, sender
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    queue.put_nowait((loop.time() + one_way, None))
                    break
                if self.next_cut:
                    room = self.next_cut - (self.up.bytes + self.down.bytes)
                    if len(data) >= room:
                        left = direction.reserve(room, loop.time())
                        if room:
                            queue.put_nowait((left + one_way, data[:room]))
                        self.next_cut += self.profile.cut_bytes
                        self.cut()
                        return
                left = direction.reserve(len(data), loop.time())
                queue.put_nowait((left + one_way, data))
                delay = left - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sender
        except (OSError, asyncio.IncompleteReadError):
            conn.reset()
            self.live.discard(conn)


class Netem:
    """The proxy in a thread of its own, for synchronous code: a context manager."""

    def __init__(self, target: tuple[str, int], profile: Profile, listen: tuple[str, int] = ("127.0.0.1", 0)):
        self.link = Link(target, profile, listen)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="netem", daemon=True)

    @property
    def port(self) -> int:
        return self.link.port

    @property
    def profile(self) -> Profile:
        return self.link.profile

    def stats(self) -> LinkStats:
        return self._call(self.link.stats)

    def cut(self) -> None:
        self._call(self.link.cut)

    def _call(self, fn):
        async def run():
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def __enter__(self) -> "Netem":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.link.start(), self.loop).result(timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.link.close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _address(text: str) -> tuple[str, int]:
    host, _sep, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def profile_from_args(args) -> Profile:
    profile = PROFILES[args.profile]
    changes = {}
    if args.rate_kbps is not None:
        changes.update(up_bps=args.rate_kbps * 1000, down_bps=args.rate_kbps * 1000)
    if args.rtt_ms is not None:
        changes["rtt_s"] = args.rtt_ms / 1000
    if args.cut_bytes is not None:
        changes["cut_bytes"] = args.cut_bytes
    if args.cut_every is not None:
        changes["cut_every_s"] = args.cut_every
    return replace(profile, **changes) if changes else profile


async def _serve(target, profile: Profile, listen, report_every: float) -> None:
    link = Link(target, profile, listen)
    await link.start()
    print(f"[netem] {profile.describe()}", flush=True)
    print(f"[netem] 127.0.0.1:{link.port} -> {target[0]}:{target[1]}", flush=True)
    try:
        while True:
            await asyncio.sleep(report_every)
            print(f"[netem] {link.stats()}", flush=True)
    finally:
        print(f"[netem] {link.stats()}", flush=True)
        await link.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.netem", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=PROFILES, default="2g")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 9000))
    parser.add_argument("--target", type=_address, default=("127.0.0.1", 8000))
    parser.add_argument("--rate-kbps", type=float, help="both directions, in kilobytes (1000 bytes) per second")
    parser.add_argument("--rtt-ms", type=float)
    parser.add_argument("--cut-bytes", type=int, help="drop the link every N bytes carried (0: never)")
    parser.add_argument("--cut-every", type=float, help="drop the link every T seconds (0: never)")
    parser.add_argument("--report-every", type=float, default=10.0, help="print the counters every T seconds")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.target, profile_from_args(args), args.listen, args.report_every))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
