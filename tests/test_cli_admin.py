"""escore's admin commands from a user's side: an application of their own, run as a subprocess.

Projection status after admin commands and dead workers, blue/green from the
shell, exit codes, the demo's refusal and replay's checks and JSON.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workers import query, wait_until

APP = """
import os
import time
from dataclasses import dataclass

from eventsourcing_core.aggregate import Aggregate, DomainEvent, evolves
from eventsourcing_core.projection import ErrorPolicy, Projection


@dataclass(frozen=True)
class Shelved(DomainEvent):
    book: str


class Shelf(Aggregate):
    category = "shelf"

    def __init__(self, id):
        super().__init__(id)
        self.books = set()
        self.ids = frozenset()

    @evolves(Shelved)
    def _shelved(self, event):
        self.books.add(event.book)
        self.ids = self.ids | {event.book}


ALL = [Shelf]


class Count(Projection):
    name = "count"
    tables = ("book_count",)
    categories = ("shelf",)
    version = int(os.environ.get("COUNT_VERSION", "1"))
    max_attempts = 1
    on_error = ErrorPolicy.PARK if os.environ.get("PARK") else ErrorPolicy.STOP

    def setup(self, sql):
        sql.execute("CREATE TABLE IF NOT EXISTS {book_count} (version int, n int NOT NULL)")

    def apply(self, event, sql):
        time.sleep(float(os.environ.get("SLOW_APPLY", "0")))
        if event.data.get("book") == "poison" and os.environ.get("POISON"):
            raise ValueError("poisoned book")
        sql.execute("INSERT INTO {book_count} VALUES (%s, 1)", [type(self).version])

    def clear(self, sql):
        sql.execute("DELETE FROM {book_count}")


def build(store):
    if os.environ.get("SLOW_START"):
        open(os.environ["SLOW_START"], "w").close()
        time.sleep(30)
    return [Count()]
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A user's application directory with its own aggregates and projections."""
    (tmp_path / "shelves.py").write_text(textwrap.dedent(APP))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.escore]\naggregates = "shelves:ALL"\nprojections = "shelves:build"\n'
    )
    return tmp_path


def escore(app: Path, dsn: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=app,
        env=_env(env),
    )


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | extra


def ok(app: Path, dsn: str, *args: str, **env: str) -> str:
    done = escore(app, dsn, *args, **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def background(app: Path, dsn: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", dsn, *args],
        cwd=app,
        env=_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str], how: int = signal.SIGINT) -> tuple[int, str]:
    """Signal a background command; its exit code and what it said on stderr."""
    process.send_signal(how)
    _, err = process.communicate(timeout=15)
    return process.returncode, err


def status(app: Path, dsn: str, **env: str) -> dict[str, dict[str, Any]]:
    rows = [
        json.loads(line)
        for line in ok(app, dsn, "projections", "status", "--json", **env).splitlines()
    ]
    return {row["projection"]: row for row in rows}


def shelve(app: Path, dsn: str, *books: str) -> None:
    for book in books:
        ok(app, dsn, "append", "shelf-1", "Shelved", "--data", json.dumps({"book": book}))


# -- 5. status reflects reality -------------------------------------------------------------


def test_a_projection_is_not_running_once_a_rebuild_has_exited(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a", "b")

    assert ok(app, dsn, "projections", "rebuild", "count").startswith("rebuilt count: 2 events")

    row = status(app, dsn)["count"]
    assert (row["status"], row["owner"], row["lag"]) == ("stopped", None, 0)


def test_a_killed_worker_leaves_its_projection_stopped_not_running(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a")
    worker = background(app, dsn, "projections", "run")
    try:
        wait_until(lambda: _running_owner(app, dsn) is not None, timeout=30)
        owner = _running_owner(app, dsn)
        assert owner is not None
        assert owner.startswith(f"escore worker {worker.pid} ")
    finally:
        stop(worker, signal.SIGKILL)

    wait_until(lambda: status(app, dsn)["count"]["status"] == "stopped", timeout=10)
    assert status(app, dsn)["count"]["owner"] is None


def test_a_rebuild_owns_the_projection_while_it_runs(app: Path, dsn: str) -> None:
    shelve(app, dsn, *"abcdefgh")
    rebuild = background(app, dsn, "projections", "rebuild", "count", SLOW_APPLY="0.5")
    try:
        wait_until(lambda: _running_owner(app, dsn) is not None, timeout=30)
        owner = _running_owner(app, dsn)
    finally:
        _, err = rebuild.communicate(timeout=60)  # let it finish

    assert rebuild.returncode == 0, err
    assert owner is not None
    assert owner.startswith(f"escore rebuild {rebuild.pid} ")
    assert status(app, dsn)["count"]["status"] == "stopped"


def test_a_rebuild_leaves_catching_up_to_the_worker_that_owns_the_projection(
    app: Path, dsn: str
) -> None:
    shelve(app, dsn, "a", "b")
    worker = background(app, dsn, "projections", "run")
    try:
        wait_until(lambda: status(app, dsn)["count"]["processed"] == 2, timeout=30)
        rebuilt = ok(app, dsn, "projections", "rebuild", "count")
        wait_until(lambda: status(app, dsn)["count"]["processed"] == 2, timeout=30)
    finally:
        assert stop(worker)[0] == 0

    assert rebuilt.startswith(f"reset count; escore worker {worker.pid} ")
    assert rebuilt.strip().endswith("rebuilds it from the start")
    assert query(dsn, "SELECT count(*) FROM escore.book_count") == [(2,)]


def _running_owner(app: Path, dsn: str) -> str | None:
    row = status(app, dsn)["count"]
    return row["owner"] if row["status"] == "running" else None


def test_a_recovered_projection_shows_its_last_error_as_resolved(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a", "poison", "b")

    failed = escore(app, dsn, "projections", "rebuild", "count", POISON="1")
    assert failed.returncode == 1
    row = status(app, dsn)["count"]
    assert row["status"] == "failed"
    assert "poisoned book" in row["last error"]

    worker = background(app, dsn, "projections", "run")  # the handler is fixed
    try:
        wait_until(lambda: status(app, dsn)["count"]["lag"] == 0, timeout=30)
        recovered = status(app, dsn)["count"]
    finally:
        assert stop(worker)[0] == 0

    assert recovered["status"] == "running"
    assert recovered["last error"].startswith("(resolved) ValueError: poisoned book")
    table = ok(app, dsn, "projections", "status")
    assert "stopped" in table
    assert "(resolved) ValueError: poisoned book" in table


def test_a_parked_event_error_stands_until_the_retry_applies_it(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a", "poison", "b")

    ok(app, dsn, "projections", "rebuild", "count", POISON="1", PARK="1")
    parked = status(app, dsn)["count"]
    ok(app, dsn, "projections", "retry", "count", PARK="1")
    retried = status(app, dsn)["count"]

    assert (parked["parked"], parked["last error"]) == (1, "ValueError: poisoned book")
    assert retried["parked"] == 0
    assert query(dsn, "SELECT count(*) FROM escore.book_count") == [(3,)]
    assert retried["last error"] == "(resolved) ValueError: poisoned book"


# -- 6. blue/green from the shell -----------------------------------------------------------


def test_a_new_version_catches_up_beside_the_live_one_then_switches_and_retires(
    app: Path, dsn: str
) -> None:
    shelve(app, dsn, "a", "b", "c")
    ok(app, dsn, "projections", "rebuild", "count")
    v2 = {"COUNT_VERSION": "2"}

    early = escore(app, dsn, "projections", "switch", "count", **v2)
    before = status(app, dsn, **v2)
    ok(app, dsn, "projections", "rebuild", "count", **v2)
    ready = status(app, dsn, **v2)
    switched = ok(app, dsn, "projections", "switch", "count", **v2)
    after = status(app, dsn, **v2)
    seen = query(dsn, "SELECT DISTINCT version FROM escore.book_count")
    retired = ok(app, dsn, "projections", "retire", "count", **v2)
    final = status(app, dsn, **v2)
    again = escore(app, dsn, "projections", "retire", "count", **v2)

    assert early.returncode == 1
    assert "3 events behind" in early.stderr
    assert (before["count"]["readers"], before["count@v2"]["readers"]) == ("live", "catching up")
    assert ready["count@v2"]["readers"] == "ready"
    assert switched.strip() == "count: readers now see version 2"
    assert (after["count"]["readers"], after["count@v2"]["readers"]) == ("old", "live")
    assert seen == [(2,)]
    assert "retired version 1" in retired
    assert list(final) == ["count@v2"]
    assert final["count@v2"]["version"] == "v2"
    assert query(dsn, "SELECT to_regclass('escore.book_count_v1')") == [(None,)]
    assert again.returncode == 2
    assert "no version older than the live one" in again.stderr


def test_the_live_version_cannot_be_retired(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a")
    ok(app, dsn, "projections", "rebuild", "count")

    done = escore(app, dsn, "projections", "retire", "count", "--version", "1")

    assert done.returncode == 1
    assert "count is live: switch to another version first" in done.stderr
    assert status(app, dsn)["count"]["readers"] == "live"


# -- 7. exit codes, Ctrl-C, replay, demo ---------------------------------------------------


@pytest.mark.parametrize(
    ("names", "said"),
    [
        ([], "the following arguments are required: NAME"),
        (["count", "count"], "unrecognized arguments: count"),
    ],
)
def test_an_admin_action_without_exactly_one_name_is_a_usage_error(
    app: Path, dsn: str, names: list[str], said: str
) -> None:
    done = escore(app, dsn, "projections", "reset", *names)

    assert done.returncode == 2
    assert said in done.stderr
    assert "usage: escore" in done.stderr


def test_each_projections_action_has_its_own_help(app: Path, dsn: str) -> None:
    reset = ok(app, dsn, "projections", "reset", "--help")
    retire = ok(app, dsn, "projections", "retire", "--help")

    assert reset.startswith("usage: escore projections reset [-h] NAME")
    assert "Empty the read model and rewind it." in reset
    assert "--version VERSION" in retire


def test_replay_refuses_a_version_past_the_end_of_the_stream(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a", "b", "c", "d")

    done = escore(app, dsn, "replay", "shelf-1", "--at-version", "9")

    assert done.returncode == 2
    assert "shelf-1 has 4 events: there is no version 9" in done.stderr
    assert done.stdout == ""


def test_replay_json_writes_sets_as_arrays(app: Path, dsn: str) -> None:
    shelve(app, dsn, "b", "a")

    state = json.loads(ok(app, dsn, "replay", "shelf-1", "--json"))

    assert (state["state"]["books"], state["state"]["ids"]) == (["a", "b"], ["a", "b"])


def test_ctrl_c_while_projections_run_is_starting_is_a_clean_stop(
    app: Path, dsn: str, tmp_path: Path
) -> None:
    loading = tmp_path / "loading"
    worker = background(app, dsn, "projections", "run", SLOW_START=str(loading))
    try:
        wait_until(loading.exists, timeout=30)
    finally:
        code, err = stop(worker)

    assert code == 0, err
    assert "interrupted" not in err


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers: a command waits on it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/x?connect_timeout=60"


@pytest.mark.parametrize(("command", "code"), [(["tail"], 0), (["streams"], 130)])
def test_ctrl_c_stops_tail_cleanly_and_interrupts_other_commands(
    app: Path, silent_server: str, command: list[str], code: int
) -> None:
    process = background(app, silent_server, *command)
    try:
        time.sleep(2.0)  # connecting, well past start-up
        assert process.poll() is None
    finally:
        returned, err = stop(process)

    assert returned == code, err


def test_the_demo_refuses_a_database_holding_other_streams(app: Path, dsn: str) -> None:
    shelve(app, dsn, "a")
    repo = Path(__file__).resolve().parent.parent

    refused = subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", dsn, "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
    )
    untouched = query(
        dsn, "SELECT count(*), to_regclass('escore.user_directory') FROM escore.events"
    )
    forced = subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", dsn, "demo", "--force"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
    )

    assert refused.returncode == 2
    assert "not sample data (categories: shelf)" in refused.stderr
    assert "--force" in refused.stderr
    assert untouched == [(1, None)]
    assert forced.returncode == 0, forced.stderr
    assert "streams written:" in forced.stdout
