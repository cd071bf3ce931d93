"""Tests that need RabbitMQ skip without one, with one reason, unless CI demands them.

Driven by pointing the broker URL at a closed loopback port, never by stopping
the machine's broker (other programs share it).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROKER_TESTS = [
    "tests/test_rabbitmq.py",
    "tests/test_examples.py::test_the_consumer_service_reacts_to_relayed_events",
]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def _pytest(port: int, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "ESCORE_REQUIRE_RABBITMQ"}
    environment.update(ESCORE_TEST_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{port}/%2F", **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *BROKER_TESTS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=environment,
    )


def _closing_count(done: subprocess.CompletedProcess[str], outcome: str) -> int:
    """How many tests pytest's closing line gives ``outcome``: every one of them, nothing else."""
    closing = re.fullmatch(rf"(\d+) {outcome} in [\d.]+s", done.stdout.rstrip().splitlines()[-1])
    assert closing is not None, done.stdout
    count = int(closing.group(1))
    assert count >= 7, "the broker tests were not all collected"
    return count


def test_without_a_broker_its_tests_are_skipped_with_one_reason(closed_port: int) -> None:
    done = _pytest(closed_port)

    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert done.returncode == 0, done.stdout
    count = _closing_count(done, "skipped")
    where = f"tests/conftest.py:{_skip_line()}"
    assert skipped == [
        f"SKIPPED [{count}] {where}: no RabbitMQ at 127.0.0.1:{closed_port} "
        "(start one: rabbitmq-server -detached; ESCORE_REQUIRE_RABBITMQ=1 makes this a failure)"
    ]


def test_when_the_environment_demands_a_broker_its_tests_fail_without_one(
    closed_port: int,
) -> None:
    done = _pytest(closed_port, ESCORE_REQUIRE_RABBITMQ="1")

    assert done.returncode == 1
    count = _closing_count(done, "errors")
    reason = f"ESCORE_REQUIRE_RABBITMQ=1 but RabbitMQ at 127.0.0.1:{closed_port} does not answer"
    assert done.stdout.count(reason) == count
    assert "Connection refused" in done.stdout
    assert "Traceback" not in done.stdout


def _skip_line() -> int:
    source = (ROOT / "tests" / "conftest.py").read_text().splitlines()
    return next(n for n, line in enumerate(source, start=1) if "pytest.skip(" in line)
