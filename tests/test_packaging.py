"""An installed wheel (not only an editable install) finds and runs its own migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from eventsourcing_core import migrate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def _build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    [wheel] = out.glob("eventsourcing_core-*.whl")
    return wheel


def test_the_wheel_ships_migrations_inside_the_package_only(tmp_path: Path) -> None:
    names = zipfile.ZipFile(_build_wheel(tmp_path)).namelist()
    top_level = {name.split("/")[0] for name in names}

    assert {n for n in top_level if not n.endswith(".dist-info")} == {"eventsourcing_core"}
    assert "eventsourcing_core/migrations/env.py" in names
    assert "eventsourcing_core/migrations/sql/0001_event_store/06_append_to_stream.sql" in names
    assert "eventsourcing_core/py.typed" in names
    package = ROOT / "eventsourcing_core"
    modules = {  # every module of the package: the samples and the testing kit too
        f"eventsourcing_core/{path.relative_to(package).as_posix()}"
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules - set(names) == set(), "add the missing packages to [tool.setuptools]"


def test_the_installed_wheel_migrates_a_database(tmp_path: Path, empty_dsn: str) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    script = (
        "import eventsourcing_core, sys\n"
        "from eventsourcing_core import migrate\n"
        f"assert eventsourcing_core.__file__.startswith({str(target)!r})\n"
        "migrate.upgrade(sys.argv[1])\n"
        "print(migrate.current(sys.argv[1]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, empty_dsn],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == migrate.head()


USER_CODE = """\
from eventsourcing_core import NewEvent, PostgresEventStore

def first_type(store: PostgresEventStore) -> str:
    event: NewEvent = NewEvent("Registered", {"name": "alice"})
    return event.event_type + str(store.stream_version("user-1"))
"""


def _venv_with(tmp_path: Path, *install: str) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", *install],
        check=True,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return python


def _strict_mypy(python: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "service.py").write_text(USER_CODE)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python)]
    return subprocess.run(
        [*mypy, "service.py"],
        cwd=tmp_path / "app",
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_users_mypy_strict_finds_the_package_of_an_editable_install(tmp_path: Path) -> None:
    python = _venv_with(tmp_path, "--editable", str(ROOT))

    checked = _strict_mypy(python, tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_users_mypy_strict_finds_the_package_of_an_installed_wheel(tmp_path: Path) -> None:
    python = _venv_with(tmp_path, str(_build_wheel(tmp_path / "dist")))

    checked = _strict_mypy(python, tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
