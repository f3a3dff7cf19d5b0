"""The strict environment readers behind settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp import env


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False),
                                               ("", False), ("TRUE", True)])
def test_env_bool_accepts_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG", not expected) is expected


@pytest.mark.parametrize(("reader", "raw", "match"), [
    (lambda: env.env_bool("X_V", False), "maybe", "expected one of"),
    (lambda: env.env_int("X_V", 1), "12a", "expected an integer"),
    (lambda: env.env_int("X_V", 1, minimum=5), "3", "at least 5"),
    (lambda: env.env_list("X_V", ["a"]), " , ", "empty"),
    (lambda: env.env_url("X_V", ("redis", "unix")), "http://x", "scheme 'http'"),
    (lambda: env.env_url("X_V", ("redis",)), "redis://", "needs a host"),
    (lambda: env.env_url("X_V", ("postgres", "sqlite")), "postgres:///db", "needs a host"),
    (lambda: env.env_choice("X_V", ("open", "closed"), "closed"), "ajar",
     "expected one of open, closed"),
])
def test_bad_values_raise_improperly_configured(monkeypatch, reader, raw, match):
    monkeypatch.setenv("X_V", raw)
    with pytest.raises(ImproperlyConfigured, match=match):
        reader()


def test_env_path_rejects_a_file(monkeypatch, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    monkeypatch.setenv("X_DIR", str(target))
    with pytest.raises(ImproperlyConfigured, match="not a directory"):
        env.env_path("X_DIR", tmp_path)


def test_unset_values_give_defaults(monkeypatch, tmp_path):
    for name in ("X_A", "X_B", "X_C", "X_D"):
        monkeypatch.delenv(name, raising=False)
    assert env.env_int("X_A", 7) == 7
    assert env.env_list("X_B", ["h"]) == ["h"]
    assert env.env_url("X_C", ("redis",)) is None
    assert env.env_path("X_D", tmp_path) == tmp_path.resolve()


def test_env_choice_is_case_insensitive_and_defaults_when_unset(monkeypatch):
    monkeypatch.setenv("X_MODE", " Invite ")
    assert env.env_choice("X_MODE", ("open", "invite"), "open") == "invite"
    monkeypatch.setenv("X_MODE", "")
    assert env.env_choice("X_MODE", ("open", "invite"), "open") == "open"


@pytest.mark.parametrize(("password", "placeholder"), [
    ("change-me-database-password", True), ("Secret", True), ("postgres", True),
    ("password", True), ("changeme", True), ("k8#Vq2-xLr9!pZ", False),
])
def test_placeholder_passwords(password, placeholder):
    assert env.is_placeholder_password(password) is placeholder


@pytest.mark.parametrize(("debug", "hosts", "public"), [
    (False, ["sr.example.org"], True), (False, ["localhost", "*"], True),
    (True, ["sr.example.org"], False), (False, ["127.0.0.1", "localhost", "[::1]"], False),
])
def test_public_deployment_is_debug_off_and_a_non_local_host(debug, hosts, public):
    assert env.is_public_deployment(debug, hosts) is public


def test_unix_redis_url_is_spelled_for_kombu():
    assert env.redis_url_for_celery("unix:///tmp/r.sock") == "redis+socket:///tmp/r.sock"
    assert env.redis_url_for_celery("redis://h:6379/0") == "redis://h:6379/0"


@pytest.mark.parametrize(("name", "value"), [
    ("DATABASE_URL", "mysql://db/x"), ("REDIS_URL", "redis://"), ("SECRET_KEY", "short"),
    ("SECRET_KEY", "change-me-change-me-change-me-change-me-change-me"),
    ("SR_DEVICE", "tpu"), ("SR_MAX_PIXELS", "lots"), ("DEBUG", "perhaps"),
    ("LOG_LEVEL", "chatty"), ("SR_SIGNUP", "sometimes"), ("SR_HSTS_SECONDS", "a year"),
    ("SR_SSL_REDIRECT", "please"), ("SR_LOGIN_MAX_FAILURES", "0"),
])
def test_settings_module_fails_loudly_on_bad_values(monkeypatch, name, value):
    import subprocess
    import sys

    monkeypatch.setenv(name, value)
    proc = subprocess.run([sys.executable, "-c", "import webapp.settings"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr and name in proc.stderr


def test_deploy_checks_flag_missing_redis_and_sqlite_on_a_public_host(settings):
    from webapp.checks import check_services

    settings.REDIS_URL = None
    settings.ALLOWED_HOSTS = ["sr.example.org"]
    ids = {w.id for w in check_services()}
    assert {"sr_studio.W001", "sr_studio.W002"} <= ids
