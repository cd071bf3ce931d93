"""The FastAPI example over HTTP: register, place an order, read its summary (read-your-writes).

Requests go through httpx's ASGI transport, on one event loop with the app, its
lifespan (store pool, projection worker thread) entered as a server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from examples.fastapi_app import create_app

ALICE = {"user_id": "u1", "username": "alice", "email": "alice@example.com"}
BOOKS = {
    "order_id": "o1",
    "user_id": "u1",
    "lines": [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250}],
}

Client = httpx.AsyncClient


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Client]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def run(app: FastAPI, test: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serving(app) as client:
            await test(client)

    asyncio.run(main())


def test_a_placed_order_is_read_back_from_the_read_model_at_once(dsn: str) -> None:
    async def test(client: Client) -> None:
        assert (await client.post("/users", json=ALICE)).status_code == 201

        placed = await client.post("/orders", json=BOOKS)
        assert placed.status_code == 201
        summary = await client.get("/orders/o1", params={"after": placed.json()["checkpoint"]})

        assert summary.status_code == 200
        assert summary.json() | {"lines": None} == {
            "order_id": "o1",
            "user_id": "u1",
            "status": "open",
            "lines": None,
            "total_cents": 2500,
            "paid_cents": 0,
        }

    run(create_app(dsn), test)


def test_a_taken_username_and_a_broken_rule_are_refused_with_their_reason(dsn: str) -> None:
    async def test(client: Client) -> None:
        await client.post("/users", json=ALICE)

        taken = await client.post("/users", json=ALICE | {"user_id": "u2"})
        no_lines = await client.post("/orders", json=BOOKS | {"lines": []})
        nobody = await client.post("/orders", json=BOOKS | {"user_id": "u404"})
        unknown = await client.get("/orders/o404")

        assert (taken.status_code, taken.json()["detail"]) == (422, "username 'alice' is taken")
        assert no_lines.status_code == 422
        assert "at least one line" in no_lines.json()["detail"]
        assert nobody.status_code == 404
        assert "user-u404" in nobody.json()["detail"]
        assert unknown.status_code == 404

    run(create_app(dsn), test)


def test_a_read_model_that_has_not_caught_up_answers_503_and_a_bad_checkpoint_422(
    dsn: str,
) -> None:
    async def test(client: Client) -> None:
        await client.post("/users", json=ALICE)
        placed = (await client.post("/orders", json=BOOKS)).json()

        behind = await client.get("/orders/o1", params={"after": placed["checkpoint"]})
        garbled = await client.get("/orders/o1", params={"after": "not-a-checkpoint"})

        assert behind.status_code == 503
        assert behind.headers["Retry-After"] == "1"
        assert garbled.status_code == 422

    run(create_app(dsn, run_worker=False, read_timeout=0.1), test)


def test_concurrent_requests_are_served_by_one_loop(dsn: str) -> None:
    async def test(client: Client) -> None:
        await client.post("/users", json=ALICE)
        orders = [BOOKS | {"order_id": f"o{n}"} for n in range(20)]

        placed = await asyncio.gather(*(client.post("/orders", json=o) for o in orders))
        last = max(placed, key=lambda response: response.json()["checkpoint"])
        read = await client.get("/orders/o19", params={"after": last.json()["checkpoint"]})

        assert {response.status_code for response in placed} == {201}
        assert read.status_code == 200

    run(create_app(dsn), test)
