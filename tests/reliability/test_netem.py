"""The weak-network proxy (bench/netem.py) itself: exact byte counts, its bandwidth and round trip, and its cuts.

Each test runs a small profile (hundreds of KB/s, tens of ms) against a plain socket server on 127.0.0.1, so that
the whole module takes a few seconds.
"""

import os
import socket
import socketserver
import threading
import time

import pytest

from bench.netem import PROFILES, Netem, Profile


class _Handler(socketserver.BaseRequestHandler):
    """Echoes what it reads (``echo`` mode) or only reads it; records what it got and when the last byte came."""

    def handle(self):
        server = self.server
        got = bytearray()
        try:
            while chunk := self.request.recv(65536):
                got += chunk
                server.last_byte_at = time.perf_counter()
                if server.echo:
                    self.request.sendall(chunk)
        except OSError as exc:
            server.errors.append(type(exc).__name__)
        server.received.append(bytes(got))


@pytest.fixture
def target():
    def start(echo: bool):
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.echo, server.received, server.errors, server.last_byte_at = echo, [], [], None
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def link(profile: Profile, server) -> Netem:
    return Netem(server.server_address, profile)


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        assert chunk, f"closed after {len(got)} of {n} bytes"
        got += chunk
    return bytes(got)


def test_counts_the_exact_bytes_of_each_direction(target):
    server = target(echo=True)
    payload = os.urandom(300_000)
    with link(Profile("fast", 0, 0, 0.0), server) as net:
        with socket.create_connection(("127.0.0.1", net.port)) as sock:
            sock.sendall(payload)
            assert recv_exactly(sock, len(payload)) == payload
            sock.sendall(b"x" * 1234)
            assert recv_exactly(sock, 1234) == b"x" * 1234
        wait_for(lambda: server.received)
        stats = net.stats()
    assert (stats.up_bytes, stats.down_bytes) == (301_234, 301_234)
    assert (stats.connections, stats.cuts) == (1, 0)
    assert server.received == [payload + b"x" * 1234]


def test_bandwidth_is_the_profiles_within_tolerance(target):
    server = target(echo=False)
    rate = 400_000
    payload = os.urandom(200_000)  # half a second at the rate
    with link(Profile("measured", rate, rate, 0.0), server) as net:
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", net.port)) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            wait_for(lambda: server.received)
    seconds = server.last_byte_at - started
    assert 0.45 <= seconds <= 0.6, seconds
    assert server.received == [payload]


def test_concurrent_connections_share_the_bandwidth(target):
    server = target(echo=False)
    rate = 400_000
    with link(Profile("shared", rate, rate, 0.0), server) as net:
        started = time.perf_counter()
        socks = [socket.create_connection(("127.0.0.1", net.port)) for _ in range(2)]
        senders = [threading.Thread(target=s.sendall, args=(os.urandom(100_000),)) for s in socks]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        for s in socks:
            s.shutdown(socket.SHUT_WR)
        wait_for(lambda: len(server.received) == 2)
        for s in socks:
            s.close()
    assert 0.45 <= server.last_byte_at - started <= 0.6
    assert sorted(len(r) for r in server.received) == [100_000, 100_000]


def test_a_new_connection_waits_one_round_trip_and_each_exchange_another(target):
    server = target(echo=True)
    rtt = 0.2
    with link(Profile("far", 0, 0, rtt), server) as net:
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", net.port)) as sock:
            sock.sendall(b"ping")
            assert recv_exactly(sock, 4) == b"ping"
            first = time.perf_counter() - started
            sock.sendall(b"pong")
            assert recv_exactly(sock, 4) == b"pong"
            second = time.perf_counter() - started - first
    assert 2 * rtt <= first <= 2 * rtt + 0.1, first
    assert rtt <= second <= rtt + 0.1, second


def test_the_link_drops_every_n_bytes(target):
    """The phone's side is reset; the server gets exactly the bytes that crossed the link, then the end."""
    server = target(echo=False)
    sent = bytearray()
    with link(Profile("cut", 0, 0, 0.05, cut_bytes=50_000), server) as net:
        sock = socket.create_connection(("127.0.0.1", net.port))
        with pytest.raises(OSError):  # reset by the proxy: ECONNRESET or EPIPE, whichever the send meets
            for _ in range(100):
                chunk = os.urandom(10_000)
                sock.sendall(chunk)
                sent += chunk
                time.sleep(0.005)
            sock.recv(1)
        sock.close()
        wait_for(lambda: server.received)
        assert net.stats().up_bytes == 50_000 and net.stats().cuts == 1
        assert server.received[0] == sent[:50_000]
        assert server.errors == []

        # The next connection carries on, and the link drops again at 100 000 bytes in all.
        with socket.create_connection(("127.0.0.1", net.port)) as sock:
            sock.sendall(os.urandom(30_000))
            sock.shutdown(socket.SHUT_WR)
            wait_for(lambda: len(server.received) == 2)
        assert len(server.received[1]) == 30_000
        sock = socket.create_connection(("127.0.0.1", net.port))
        with pytest.raises(OSError):
            for _ in range(100):
                sock.sendall(os.urandom(10_000))
                time.sleep(0.005)
            sock.recv(1)
        sock.close()
        stats = net.stats()
    assert (stats.up_bytes, stats.cuts, stats.connections) == (100_000, 2, 3)


def test_the_link_drops_every_t_seconds(target):
    server = target(echo=True)
    with link(Profile("flaky", 0, 0, 0.0, cut_every_s=0.3), server) as net:
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", net.port)) as sock:
            sock.sendall(b"hello")
            assert recv_exactly(sock, 5) == b"hello"
            with pytest.raises(ConnectionResetError):
                assert sock.recv(1) == b""  # an idle connection is reset too, not closed cleanly
        lasted = time.perf_counter() - started
        assert net.stats().cuts == 1
    assert 0.25 <= lasted <= 0.45, lasted


def test_profiles_and_scaling():
    two_g = PROFILES["2g"]
    assert (two_g.up_bps, two_g.down_bps, two_g.rtt_s, two_g.cut_bytes) == (30_000, 30_000, 0.3, 1_000_000)
    assert PROFILES["3g"].source
    fast = two_g.scaled(10)
    assert (fast.up_bps, fast.rtt_s, fast.cut_bytes) == (300_000, pytest.approx(0.03), 10_000_000)
    assert "every 1 MB" in two_g.describe()
