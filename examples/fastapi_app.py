"""A small asyncio web service over the user and order samples, on FastAPI.

    DATABASE_URL=postgresql://... uvicorn examples.fastapi_app:app

    POST /users              {"user_id", "username", "email"}            -> 201
    POST /orders             {"order_id", "user_id", "lines": [{...}]}   -> 201 {"checkpoint"}
    GET  /orders/{order_id}?after=CHECKPOINT                             -> the order summary

Every request handler awaits the store; none blocks the event loop. The
order summary is a read model kept by the ``OrderSummary`` projection, which a
worker thread started with the app keeps up to date (a real deployment may
run it as its own process: ``escore worker``). ``after`` is read-your-writes:
pass the checkpoint that placing the order returned, and the summary is
served only once the projection has passed it (503 if it has not within
``READ_TIMEOUT`` seconds, so the client can retry).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from pydantic import BaseModel

from eventsourcing_core import (
    AggregateNotFoundError,
    AsyncPostgresEventStore,
    Checkpoint,
    ConcurrencyError,
    DomainError,
    InvalidArgumentError,
    PostgresEventStore,
    wait_for_projection,
)
from eventsourcing_core.postgres.projections import ProjectionRunner
from eventsourcing_core.postgres.worker import ProjectionWorker
from eventsourcing_core.repository_async import AsyncRepository, retry_on_conflict, save_all
from eventsourcing_core.samples.aggregates.order import Line, Order
from eventsourcing_core.samples.aggregates.user import User, Username, check_username
from eventsourcing_core.samples.projections.order_summary import OrderSummary

READ_TIMEOUT = 5.0
"""Seconds a read waits for the projection to pass the client's checkpoint."""


class NewUser(BaseModel):
    user_id: str
    username: str
    email: str


class OrderLine(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class NewOrder(BaseModel):
    order_id: str
    user_id: str
    lines: list[OrderLine]


# -- the commands, awaited ----------------------------------------------------------------


async def register_user(
    store: AsyncPostgresEventStore, user_id: str, username: str, email: str
) -> None:
    """Register a user under a username no other user holds (one transaction for both)."""
    users, names = AsyncRepository(store, User), AsyncRepository(store, Username)

    async def attempt() -> None:
        user = users.new(user_id)
        name = await names.load_or_new(check_username(username))
        name.reserve(user_id)
        user.register(username, email)
        await save_all(store, [user, name])

    await retry_on_conflict(attempt)


async def place_order(store: AsyncPostgresEventStore, order: NewOrder) -> Checkpoint:
    """Place an order for a registered user; the checkpoint of its events."""
    if not await AsyncRepository(store, User).exists(order.user_id):
        raise AggregateNotFoundError("User", User.stream_id_for(order.user_id))
    orders = AsyncRepository(store, Order)
    placed = orders.new(order.order_id)
    placed.place(order.user_id, [Line(**line.model_dump()) for line in order.lines])
    result = await orders.save(placed)
    assert result is not None
    return result.checkpoint


async def order_summary(store: AsyncPostgresEventStore, order_id: str) -> dict[str, Any] | None:
    """The order's row of the order summary read model, if the projection has it."""
    query = sql.SQL(
        "SELECT order_id, user_id, status, lines, total_cents, paid_cents FROM {} "
        "WHERE order_id = %s"
    ).format(sql.Identifier(store.schema, "order_summary"))
    row = await store.fetch_one(query.as_string(), [order_id])
    if row is None:
        return None
    columns = ("order_id", "user_id", "status", "lines", "total_cents", "paid_cents")
    return dict(zip(columns, row, strict=True))


# -- the app ----------------------------------------------------------------------------------


def create_app(dsn: str, *, run_worker: bool = True, read_timeout: float = READ_TIMEOUT) -> FastAPI:
    """The service on ``dsn`` (a migrated database); ``run_worker``: keep the read model."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with await AsyncPostgresEventStore.connect(dsn) as store:
            app.state.store = store
            if not run_worker:
                yield
                return
            async with _projection_worker(dsn):
                yield

    app = FastAPI(title="orders", lifespan=lifespan)
    _add_error_handlers(app)

    @app.post("/users", status_code=201)
    async def post_user(user: NewUser, request: Request) -> dict[str, str]:
        await register_user(_store(request), user.user_id, user.username, user.email)
        return {"user_id": user.user_id}

    @app.post("/orders", status_code=201)
    async def post_order(order: NewOrder, request: Request) -> dict[str, str]:
        checkpoint = await place_order(_store(request), order)
        return {"order_id": order.order_id, "checkpoint": str(checkpoint)}

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, request: Request, after: str | None = None) -> Any:
        store = _store(request)
        if after is not None:
            checkpoint = Checkpoint.parse(after)
            passed = await wait_for_projection(
                store, OrderSummary(), checkpoint, timeout=read_timeout
            )
            if not passed:
                return JSONResponse(
                    {"detail": f"the order summary has not reached {after} yet"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
        summary = await order_summary(store, order_id)
        if summary is None:
            raise HTTPException(status_code=404, detail=f"no order {order_id}")
        return summary

    return app


def _store(request: Request) -> AsyncPostgresEventStore:
    store: AsyncPostgresEventStore = request.app.state.store
    return store


@asynccontextmanager
async def _projection_worker(dsn: str) -> AsyncIterator[None]:
    """The order summary's projection worker, in a thread, for the app's lifetime."""
    store = await asyncio.to_thread(PostgresEventStore.connect, dsn)
    try:
        # The read model's tables exist before the first request asks for them.
        await asyncio.to_thread(ProjectionRunner(store, OrderSummary()).setup)
        stop = threading.Event()
        worker = ProjectionWorker(store, [OrderSummary()], idle_wait=0.2, claim_interval=0.2)
        thread = threading.Thread(target=worker.run, args=(stop,), name="order-summary-worker")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
    finally:
        await asyncio.to_thread(store.close)


def _add_error_handlers(app: FastAPI) -> None:
    """The framework's errors as HTTP statuses: one place, one message each."""
    statuses: dict[type[Exception], int] = {
        AggregateNotFoundError: 404,
        ConcurrencyError: 409,
        DomainError: 422,
        InvalidArgumentError: 422,
    }
    for error, status in statuses.items():
        app.add_exception_handler(error, _respond_with(status))


def _respond_with(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def respond(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status)

    return respond


def _app_from_environment() -> FastAPI | None:
    dsn = os.environ.get("DATABASE_URL")
    return create_app(dsn) if dsn else None


app = _app_from_environment()
"""``uvicorn examples.fastapi_app:app`` with ``DATABASE_URL`` set."""
