"""A loopback TCP proxy in front of the test server that can lose a reply on purpose.

It forwards bytes both ways. When armed with a marker, the first client
request containing the marker is forwarded to the server, but the server's
reply is swallowed and the client's connection cut: the server did the work
(and, in autocommit, committed it), the client never hears back. That is the
"unknown outcome" an idempotent append must survive.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LosingProxy:
    """Forward 127.0.0.1:<port> to the server; lose one reply when armed."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._marker: bytes | None = None
        self.lost_replies = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_reply_to(self, marker: bytes) -> None:
        """Swallow the reply to the next request that contains ``marker``."""
        with self._lock:
            self._marker = marker

    def close(self) -> None:
        """Stop accepting; open pairs end when either side closes."""
        self._listener.close()

    def _connect_server(self) -> socket.socket:
        host, port = self._target
        if host.startswith("/"):
            server = socket.socket(socket.AF_UNIX)
            server.connect(f"{host}/.s.PGSQL.{port}")
            return server
        return socket.create_connection((host, port))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._connect_server()
            armed = threading.Event()
            threading.Thread(
                target=self._upstream, args=(client, server, armed), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, armed), daemon=True
            ).start()

    def _upstream(
        self, client: socket.socket, server: socket.socket, armed: threading.Event
    ) -> None:
        while chunk := _receive(client):
            with self._lock:
                if self._marker is not None and self._marker in chunk:
                    self._marker = None
                    armed.set()
            server.sendall(chunk)
        _close(client, server)

    def _downstream(
        self, server: socket.socket, client: socket.socket, armed: threading.Event
    ) -> None:
        while chunk := _receive(server):
            if armed.is_set():
                self.lost_replies += 1
                break
            client.sendall(chunk)
        _close(client, server)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextmanager
def losing_proxy(host: str, port: int) -> Iterator[LosingProxy]:
    """A ``LosingProxy`` for the duration of a block."""
    proxy = LosingProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()


class Gate:
    """A loopback port that refuses connections until opened, then forwards them to a server.

    The port is bound at once (so it is known and stays ours) but not listening:
    a client sees "connection refused", as from a server that is down.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    def open(self) -> None:
        """Start accepting and forwarding."""
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting; open pairs end when either side closes."""
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_forward, args=(source, sink), daemon=True).start()


def _forward(source: socket.socket, sink: socket.socket) -> None:
    while chunk := _receive(source):
        try:
            sink.sendall(chunk)
        except OSError:
            break
    _close(source, sink)
