"""deploy/env.example's production values pass `manage.py check --deploy` with nothing to
report; its placeholders stop the entry points with one line; what the app creates in its
data dir is private. Every test runs the real entry point in a subprocess."""

from __future__ import annotations

import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.testing import ROOT

ENV_EXAMPLE = ROOT / "deploy" / "env.example"
PLACEHOLDER = re.compile(r"change-me[\w-]*")
EXAMPLE_DATA_DIR = "/var/lib/sr-studio"


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"env.example: not NAME=value: {line!r}"
            values[name] = value
    return values


def _deployment_env(tmp_path: Path, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """env.example as a deployer fills it in: its placeholders (except those named in
    `keep`) replaced by a strong secret, its paths moved under tmp_path. Nothing from the
    test runner's environment but PATH, so its DATABASE_URL or DEBUG cannot leak in."""
    strong = secrets.token_urlsafe(50)
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    for name, value in _env_example().items():
        if name not in keep:
            value = PLACEHOLDER.sub(strong, value)
        env[name] = value.replace(EXAMPLE_DATA_DIR, str(tmp_path))
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_env_example_has_placeholders_for_every_secret():
    values = _env_example()
    for name in ("SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD"):
        assert PLACEHOLDER.search(values[name]), name


def test_production_settings_pass_check_deploy_with_nothing_to_report(tmp_path):
    proc = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                _deployment_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "System check identified no issues (0 silenced)."
    assert proc.stderr == ""


@pytest.mark.parametrize(("keep", "variable"), [
    (("SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD"), "SECRET_KEY"),
    (("DATABASE_URL", "POSTGRES_PASSWORD"), "DATABASE_URL"),
    (("POSTGRES_PASSWORD",), "POSTGRES_PASSWORD"),
])
def test_placeholders_stop_manage_py_with_one_line(tmp_path, keep, variable):
    proc = _run(["manage.py", "check"], _deployment_env(tmp_path, keep=keep))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sr-studio: error: {variable}: "), lines


def test_well_known_database_password_stops_start_up(tmp_path):
    env = _deployment_env(tmp_path)
    env["DATABASE_URL"] = "postgresql://sr_studio:postgres@db.example.org:5432/sr_studio"
    proc = _run(["manage.py", "migrate"], env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "sr-studio: error: DATABASE_URL: the database password is a placeholder or a "
        "well-known default; set a strong one"]


def test_placeholders_stop_make_run_with_one_line(tmp_path):
    proc = _run(["-m", "webapp.run"], _deployment_env(tmp_path, keep=("SECRET_KEY",)))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "sr-studio: error: SECRET_KEY: still the placeholder from env.example"]


def test_local_use_keeps_weak_database_passwords(tmp_path):
    """Only a public deployment is refused: on 127.0.0.1 a throwaway password is fine."""
    env = {"PATH": "/usr/bin:/bin", "SR_DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
           "POSTGRES_PASSWORD": "secret"}
    proc = _run(["manage.py", "check"], env)
    assert proc.returncode == 0, proc.stderr


def test_migrate_creates_a_private_data_dir_and_database(tmp_path):
    data = tmp_path / "data"
    proc = _run(["manage.py", "migrate", "--noinput"],
                {"PATH": "/usr/bin:/bin", "SR_DATA_DIR": str(data)})
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("db.sqlite3", "secret_key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
