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
