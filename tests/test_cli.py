"""The escore command line, driven as a user would: a subprocess against a real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workers import query, wait_until

ROOT = Path(__file__).resolve().parent.parent


def escore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def ok(*args: str) -> str:
    done = escore(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_migrate_upgrades_shows_and_downgrades_the_schema(empty_dsn: str) -> None:
    assert "(none: not migrated)" in ok("--dsn", empty_dsn, "migrate", "current")
    assert "is at revision 0008" in ok("--dsn", empty_dsn, "migrate")
    assert "0008 (head)" in ok("--dsn", empty_dsn, "migrate", "history")
    assert "is at revision None" in ok("--dsn", empty_dsn, "migrate", "down", "base")


def test_append_then_show_a_stream_as_a_table_and_as_json(dsn: str) -> None:
    out = ok(
        "--dsn",
        dsn,
        "append",
        "order-7",
        "OrderPlaced",
        "--data",
        '{"user_id": "alice"}',
        "--expected-version",
        "no-stream",
    )
    ok(
        "--dsn",
        dsn,
        "append",
        "order-7",
        "OrderPaid",
        "--data",
        '{"amount_cents": 100}',
        "--expected-version",
        "1",
    )

    table = ok("--dsn", dsn, "stream", "show", "order-7")
    lines = [
        json.loads(line)
        for line in ok(
            "--dsn", dsn, "stream", "show", "order-7", "--backwards", "--json"
        ).splitlines()
    ]

    assert out.strip() == "appended OrderPlaced to order-7 at version 1"
    assert table.splitlines()[0].split() == ["VERSION", "TYPE", "TIME", "DATA"]
    assert '{"user_id":"alice"}' in table
    assert [(e["version"], e["event_type"], e["data"]) for e in lines] == [
        (2, "OrderPaid", {"amount_cents": 100}),
        (1, "OrderPlaced", {"user_id": "alice"}),
    ]


def test_streams_and_categories_list_what_is_there(dsn: str) -> None:
    for stream in ["order-1", "order-2", "user-1"]:
        ok("--dsn", dsn, "append", stream, "Happened")

    streams = [json.loads(line) for line in ok("--dsn", dsn, "streams", "--json").splitlines()]
    orders = ok("--dsn", dsn, "streams", "--category", "order")
    categories = ok("--dsn", dsn, "categories")

    assert [s["stream"] for s in streams] == ["order-1", "order-2", "user-1"]
    assert "user-1" not in orders
    assert "order-2" in orders
    assert categories.splitlines()[1].split()[:3] == ["order", "2", "2"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["append", "order-1", "X", "--data", "{oops"], 2, "--data is not valid JSON"),
        (["append", "order-1", "X", "--data", "[1]"], 2, "must be a JSON object"),
        (["append", "order-1", "X", "--expected-version", "soon"], 2, "--expected-version must"),
        (["append", "order-1", "X", "--expected-version", "4"], 1, "Wrong expected version: 4"),
        (["stream", "show", "nope-1"], 1, "no stream 'nope-1'"),
        (["append", "", "X"], 2, "stream id must not be empty"),
    ],
    ids=[
        "bad json",
        "not an object",
        "bad expected version",
        "conflict",
        "unknown stream",
        "empty stream id",
    ],
)
def test_bad_input_gets_one_line_and_its_exit_code(
    dsn: str, args: list[str], code: int, message: str
) -> None:
    done = escore("--dsn", dsn, *args)

    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_has_its_own_exit_code() -> None:
    done = escore("--dsn", "host=127.0.0.1 port=1 user=postgres", "streams")

    assert done.returncode == 3
    assert "cannot connect to the database" in done.stderr
    assert "give --dsn or set DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_usage_error_exits_with_2() -> None:
    assert escore("no-such-command").returncode == 2


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["migrate"],
        ["streams"],
        ["stream", "show"],
        ["append"],
        ["embedded"],
        ["stream", "delete"],
        ["stream", "truncate"],
        ["stream", "archive"],
        ["forget"],
        ["roles"],
    ],
)
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    out = ok(*command, "--help")
    assert "examples:" in out


def test_embedded_status_says_where_the_server_lives(tmp_path: Path) -> None:
    done = escore("embedded", "status", env={"ESCORE_EMBEDDED_DIR": str(tmp_path / "pg")})

    assert done.returncode == 0
    assert done.stdout.startswith(f"stopped: {tmp_path / 'pg'}")


def test_the_demo_plays_the_stories_and_can_run_again(empty_dsn: str) -> None:
    ok("--dsn", empty_dsn, "migrate")
    _run_quickstart(empty_dsn)  # the README's first command writes to the same database

    first = ok("--dsn", empty_dsn, "demo")
    ok("--dsn", empty_dsn, "demo")

    assert "shipped" in first
    assert "cancelled" in first
    erased = first.split("personal data:")[1].split("streams written:")[0]
    assert '"$personal"' in erased
    assert "bob@example.com" in erased.split("after `escore forget")[0]
    assert "bob@example.com" not in erased.split("after `escore forget")[1]
    assert "user directory email: [redacted]" in erased
    stock = first.split("inventory levels:")[1].split("personal data:")[0]
    assert [line.split()[1] for line in stock.strip().splitlines()[1:]] == ["8", "50"]
    status = ok("--dsn", empty_dsn, "projections", "status")
    assert "failed" not in status


def _run_quickstart(dsn: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--dsn", dsn],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def _order_stream(dsn: str) -> str:
    rows = [
        json.loads(line)
        for line in ok("--dsn", dsn, "streams", "--category", "order", "--json").splitlines()
    ]
    return str(next(row["stream"] for row in rows if row["events"] == 4))


def test_replay_shows_the_state_now_and_at_a_version(empty_dsn: str) -> None:
    ok("--dsn", empty_dsn, "demo")
    stream = _order_stream(empty_dsn)

    now = json.loads(ok("--dsn", empty_dsn, "replay", stream, "--json"))
    then = ok("--dsn", empty_dsn, "replay", stream, "--at-version", "1", "--verbose")

    assert (now["version"], now["state"]["status"]) == (4, "shipped")
    assert then.splitlines()[0].split()[:2] == ["v1", "OrderPlaced"]
    assert "at version 1:" in then
    assert "status: open" in then


def test_replaying_a_stream_of_an_unknown_category_says_what_to_do(dsn: str) -> None:
    ok("--dsn", dsn, "append", "widget-1", "Made")
    done = escore("--dsn", dsn, "replay", "widget-1")

    assert done.returncode == 1
    assert "no aggregate for category 'widget'" in done.stderr


def test_projections_can_be_rebuilt_reset_and_inspected(empty_dsn: str) -> None:
    ok("--dsn", empty_dsn, "demo")

    rebuilt = ok("--dsn", empty_dsn, "projections", "rebuild", "order_summary")
    reset = ok("--dsn", empty_dsn, "projections", "reset", "user_directory")
    status = [
        json.loads(line)
        for line in ok("--dsn", empty_dsn, "projections", "status", "--json").splitlines()
    ]
    parked = ok("--dsn", empty_dsn, "projections", "parked", "order_summary")
    unknown = escore("--dsn", empty_dsn, "projections", "reset", "nope")

    assert rebuilt.startswith("rebuilt order_summary: 6 events")
    assert "reset user_directory" in reset
    by_name = {row["projection"]: row for row in status}
    # user_directory: two registrations, and the demo's SubjectForgotten (it scrubs on it)
    assert (by_name["order_summary"]["lag"], by_name["user_directory"]["lag"]) == (0, 3)
    assert parked.strip() == "(none)"
    assert unknown.returncode == 1
    assert "unknown projection(s) ['nope']" in unknown.stderr


def test_a_projection_run_stopped_with_ctrl_c_resumes_from_its_checkpoint(dsn: str) -> None:
    def run_until_caught_up(expected_users: int) -> None:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eventsourcing_core.cli",
                "--dsn",
                dsn,
                "projections",
                "run",
                "user_directory",
            ],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: _users(dsn) == expected_users, timeout=30)
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0

    for n in range(3):
        ok(
            "--dsn",
            dsn,
            "append",
            f"user-{n}",
            "UserRegistered",
            "--data",
            f'{{"username": "user{n}", "email": "u{n}@example.com"}}',
        )
    run_until_caught_up(3)
    for n in range(3, 5):
        ok(
            "--dsn",
            dsn,
            "append",
            f"user-{n}",
            "UserRegistered",
            "--data",
            f'{{"username": "user{n}", "email": "u{n}@example.com"}}',
        )
    run_until_caught_up(5)

    [row] = [
        json.loads(line)
        for line in ok(
            "--dsn", dsn, "projections", "status", "user_directory", "--json"
        ).splitlines()
    ]
    assert (row["status"], row["lag"], row["processed"]) == ("stopped", 0, 5)


def _users(dsn: str) -> int:
    rows = query(dsn, "SELECT count(*) FROM escore.user_directory") if _has_users(dsn) else [(0,)]
    return int(str(rows[0][0]))


def _has_users(dsn: str) -> bool:
    return query(dsn, "SELECT to_regclass('escore.user_directory') IS NOT NULL") == [(True,)]


def test_tail_follows_the_log_live_and_stops_cleanly_on_ctrl_c(dsn: str) -> None:
    ok("--dsn", dsn, "append", "order-0", "Old")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventsourcing_core.cli",
            "--dsn",
            dsn,
            "tail",
            "--category",
            "order",
            "--json",
            "--interval",
            "0.05",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # let it start at the head
        ok("--dsn", dsn, "append", "user-1", "Ignored")
        ok("--dsn", dsn, "append", "order-1", "OrderPlaced", "--data", '{"n": 1}')
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()

    assert (line["stream_id"], line["event_type"], line["data"]) == (
        "order-1",
        "OrderPlaced",
        {"n": 1},
    )
    assert code == 0


def test_projections_list_and_retry_succeed_with_nothing_parked(empty_dsn: str) -> None:
    ok("--dsn", empty_dsn, "demo")

    listed = ok("--dsn", empty_dsn, "projections", "list")
    retried = ok("--dsn", empty_dsn, "projections", "retry", "order_summary")

    assert {line.split()[0] for line in listed.splitlines()[1:]} == {
        "user_directory",
        "order_summary",
        "inventory_levels",
        "welcome_email",
        "inventory_allocation",
    }
    assert retried.strip() == "0 parked event(s) applied again"


def test_the_embedded_server_starts_stops_and_is_removed_from_the_shell(tmp_path: Path) -> None:
    env = {"ESCORE_EMBEDDED_DIR": str(tmp_path / "pg")}
    try:
        started = escore("embedded", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert escore("embedded", "status", env=env).stdout.startswith("running:")
        assert escore("embedded", "stop", env=env).returncode == 0
        assert escore("embedded", "status", env=env).stdout.startswith("stopped:")
    finally:
        removed = escore("embedded", "remove", env=env)
    assert removed.returncode == 0
    assert not (tmp_path / "pg").exists()
