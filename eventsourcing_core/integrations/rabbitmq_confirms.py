"""Publishing a batch with publisher confirms, then waiting once for all of them.

pika's ``BlockingChannel`` in confirm mode waits for each message's confirm
before it sends the next: one round trip to the broker per message. This
publisher drives pika's asynchronous ``SelectConnection`` from the calling
thread instead. It publishes a whole batch, then runs the connection's I/O
loop until the broker has settled every delivery tag of the batch (acks and
nacks may each cover several tags at once, ``multiple``), and only then
returns; the caller commits its checkpoint after that. It raises instead:

- ``NackedError`` when the broker nacked any message (an internal broker
  error): the caller publishes the whole batch again (at least once);
- ``ReturnedError`` when, with ``mandatory``, messages came back unroutable
  (no queue bound for their routing key), naming their message ids;
- the connection's or channel's error when either closes, and
  ``ConfirmTimeoutError`` when confirms take longer than ``confirm_timeout``;
- ``StopRequested`` when ``stop`` is set while it waits (checked every 50 ms).

After any failure the connection is closed, so the next batch starts on a
fresh channel with no message of the failed batch still unsettled.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing_core.extras import missing_extra

try:
    import pika
    from pika.adapters.select_connection import SelectConnection
    from pika.channel import Channel
except ImportError:  # pragma: no cover (the test runs without the extra in a subprocess)
    raise missing_extra("rabbitmq", "pika") from None

from eventsourcing_core.projection import StopRequested

Message = tuple[str, bytes, pika.BasicProperties]
"""A routing key, a body and its properties."""

_SLICE = 0.05  # seconds the I/O loop runs before the publisher checks stop and time again


class NackedError(pika.exceptions.AMQPError):  # type: ignore[misc]
    """The broker nacked messages of the batch; publish the batch again."""


class ConfirmTimeoutError(pika.exceptions.AMQPError):  # type: ignore[misc]
    """The broker did not confirm the batch in time."""


class ReturnedError(Exception):
    """Messages published as mandatory came back unroutable: no queue is bound for them."""

    def __init__(self, message_ids: Sequence[str | None]) -> None:
        super().__init__(f"{len(message_ids)} messages came back unroutable: {list(message_ids)}")
        self.message_ids = list(message_ids)


class ConfirmingPublisher:
    """One connection and one channel in confirm mode, publishing batch after batch."""

    def __init__(
        self,
        parameters: pika.ConnectionParameters | pika.URLParameters,
        exchange: str,
        *,
        mandatory: bool = False,
        confirm_timeout: float = 30.0,
        stop: threading.Event | None = None,
    ) -> None:
        self._parameters = parameters
        self._exchange = exchange
        self._mandatory = mandatory
        self._confirm_timeout = confirm_timeout
        self.stop = stop or threading.Event()
        self._connection: SelectConnection | None = None
        self._loop: Any = None  # the connection's I/O loop, until closed
        self._channel: Channel | None = None
        self._failure: BaseException | None = None
        self._published = 0  # the channel's last delivery tag
        self._unsettled: deque[int] = deque()
        self._settled: set[int] = set()
        self._settled_up_to = 0
        self._nacked = 0
        self._returned: list[str | None] = []

    def publish(self, messages: Sequence[Message]) -> None:
        """Publish ``messages`` in order; return once the broker confirmed every one."""
        try:
            channel = self._ensure_channel()
            for key, body, properties in messages:
                channel.basic_publish(self._exchange, key, body, properties, self._mandatory)
                self._published += 1
                self._unsettled.append(self._published)
            self._run_until(self._all_settled, self._confirm_timeout)
        except BaseException:
            self.close()
            raise
        nacked, returned = self._nacked, self._returned
        self._nacked, self._returned = 0, []
        if nacked:
            self.close()
            raise NackedError(f"the broker nacked {nacked} of {len(messages)} messages")
        if returned:
            raise ReturnedError(returned)

    def close(self) -> None:
        """Close the connection (and its I/O loop); the next batch opens a new one."""
        connection, self._connection, self._channel = self._connection, None, None
        self._unsettled.clear()
        self._settled.clear()
        self._nacked, self._returned = 0, []
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if not (connection.is_closing or connection.is_closed):
                connection.close()  # an opening connection is aborted at once
            deadline = time.monotonic() + 1.0
            while not connection.is_closed and time.monotonic() < deadline:
                self._pump(connection, lambda: connection.is_closed, timeout=_SLICE)
            # pika closes the socket in a callback it scheduled: run the loop once more.
            loop = connection.ioloop
            loop.add_callback_threadsafe(loop.stop)
            loop.start()
        connection.ioloop.close()
        self._loop = None

    # -- the connection ------------------------------------------------------------

    def _ensure_channel(self) -> Channel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._failure = None
            self._published, self._settled_up_to = 0, 0
            self._connection = SelectConnection(
                self._parameters,
                on_open_callback=self._opened,
                on_open_error_callback=self._failed,
                on_close_callback=self._failed,
            )
            self._loop = self._connection.ioloop
            self._run_until(lambda: self._channel is not None, self._confirm_timeout)
        assert self._channel is not None
        return self._channel

    def _opened(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._channel_opened)

    def _channel_opened(self, channel: Channel) -> None:
        channel.add_on_close_callback(self._failed)
        channel.add_on_return_callback(self._on_return)

        def declared(_: Any) -> None:
            channel.confirm_delivery(self._on_confirm, callback=lambda _: self._ready(channel))

        channel.exchange_declare(
            self._exchange, exchange_type="topic", durable=True, callback=declared
        )

    def _ready(self, channel: Channel) -> None:
        self._channel = channel
        self._wake()

    def _failed(self, _: Any, error: BaseException | str) -> None:
        if self._failure is None:
            self._failure = (
                error
                if isinstance(error, BaseException)
                else pika.exceptions.AMQPConnectionError(error)
            )
        self._wake()

    # -- confirms and returns ------------------------------------------------------

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self._nacked += self._count_unsettled(method.delivery_tag, method.multiple)
        if method.multiple:
            self._settled_up_to = max(self._settled_up_to, method.delivery_tag)
        else:
            self._settled.add(method.delivery_tag)
        if self._all_settled():  # waking the loop for every confirm would cost a restart each
            self._wake()

    def _count_unsettled(self, tag: int, multiple: bool) -> int:
        """How many tags a confirm settles: its own, or (``multiple``) all unsettled up to it."""
        if not multiple:
            return 1
        return sum(
            1 for t in self._unsettled if self._settled_up_to < t <= tag and t not in self._settled
        )

    def _on_return(self, _: Any, __: Any, properties: pika.BasicProperties, ___: bytes) -> None:
        self._returned.append(properties.message_id)

    def _all_settled(self) -> bool:
        unsettled, settled = self._unsettled, self._settled
        while unsettled and (unsettled[0] <= self._settled_up_to or unsettled[0] in settled):
            settled.discard(unsettled.popleft())
        return not unsettled

    # -- running the I/O loop ------------------------------------------------------

    def _run_until(self, done: Callable[[], bool], timeout: float) -> None:
        """Run the I/O loop until ``done``; raise on failure, stop request or timeout."""
        connection = self._connection
        assert connection is not None
        deadline = time.monotonic() + timeout
        while not done():
            if self._failure is not None:
                raise self._failure
            if self.stop.is_set():
                raise StopRequested("stopped while waiting for the broker")
            if time.monotonic() >= deadline:
                raise ConfirmTimeoutError(f"no confirm from the broker in {timeout:g} s")
            self._pump(connection, done, timeout=_SLICE)

    @staticmethod
    def _pump(connection: SelectConnection, done: Callable[[], bool], *, timeout: float) -> None:
        """Run the loop for up to ``timeout`` seconds, or until a callback wakes it."""
        if done():
            return
        loop = connection.ioloop
        timer = loop.call_later(timeout, loop.stop)
        try:
            loop.start()
        finally:
            loop.remove_timeout(timer)

    def _wake(self) -> None:
        if self._loop is not None:
            self._loop.stop()
