"""Every error the command line meets ends in one line on stderr and a meaningful exit code."""

from __future__ import annotations

import pytest

from eventsourcing_core.cli import main as cli
from tests.test_cli import escore
from tests.workers import query

BIG = "123456789012345678901234567890"

BAD_COMMANDS = {
    "an integer beyond 64 bits": (
        ["append", "s-1", "T", "--data", f'{{"a": {BIG}}}'],
        "Integer exceeds 64-bit range",
    ),
    "NaN": (["append", "s-1", "T", "--data", '{"a": NaN}'], "NaN is not JSON"),
    "a number beyond a double": (
        ["append", "s-1", "T", "--data", '{"a": 1e400}'],
        "NaN and Infinity have no JSON form",
    ),
    "a superscript two": (
        ["append", "s-1", "T", "--expected-version", "²"],
        "--expected-version must be any, no-stream, exists or a number, got '²'",
    ),
    "an expected version beyond bigint": (
        ["append", "s-1", "T", "--expected-version", BIG],
        "expected_version must be at most 9223372036854775807",
    ),
    "a limit beyond bigint": (["streams", "--limit", BIG], "limit must be at most"),
    "an unknown revision up": (["migrate", "up", "9999"], "cannot migrate up to '9999'"),
    "an unknown revision down": (["migrate", "down", "9999"], "cannot migrate down to '9999'"),
    "a negative interval": (["tail", "--interval", "-1"], "--interval must be more than 0"),
    "a NaN interval": (["tail", "--interval", "nan"], "--interval must be more than 0"),
    "a broker URL that is none": (
        ["relay", "run", "--amqp", "notaurl::"],
        "--amqp is not a usable broker URL: Unexpected URL scheme 'notaurl'",
    ),
    "a schema of 64 characters": (["--schema", "s" * 64, "streams"], "is 64 bytes long"),
    "a schema ending a dollar quote": (
        ["--schema", "x$$; DROP TABLE escore.events; $$", "migrate"],
        "schema name must start with a letter",
    ),
}


@pytest.mark.parametrize(("args", "message"), BAD_COMMANDS.values(), ids=BAD_COMMANDS)
def test_bad_input_is_refused_in_one_line_with_exit_code_2(
    dsn: str, args: list[str], message: str
) -> None:
    done = escore("--dsn", dsn, *args)

    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
    assert message in done.stderr
    assert query(dsn, "SELECT count(*) FROM escore.events") == [(0,)]


BAD_DSNS = {
    "garbage": ("not a dsn", 'is malformed: missing "=" after "not"'),
    "an unknown option": ("host=127.0.0.1 bogus=1", 'invalid connection option "bogus"'),
    "empty": ("", "is empty"),
}


@pytest.mark.parametrize(("dsn", "message"), BAD_DSNS.values(), ids=BAD_DSNS)
def test_a_bad_connection_string_is_refused_from_the_option_and_the_environment(
    dsn: str, message: str
) -> None:
    given = escore("--dsn", dsn, "streams")
    from_environment = escore("migrate", env={"DATABASE_URL": dsn}) if dsn else given

    for done in (given, from_environment):
        assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
        assert message in done.stderr


def _explode(args: object) -> None:
    raise RuntimeError("boom\nsecond line")


def test_an_unexpected_error_prints_one_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run_embedded", _explode)

    code = cli.main(["embedded", "status"])

    assert code == 1
    assert capsys.readouterr().err == (
        "escore: unexpected error: RuntimeError: boom (run with --debug for the traceback)\n"
    )


def test_debug_shows_the_traceback_before_the_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_run_embedded", _explode)

    code = cli.main(["--debug", "embedded", "status"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert "in _explode" in err
    assert err.endswith("\nescore: unexpected error: RuntimeError: boom\n")
