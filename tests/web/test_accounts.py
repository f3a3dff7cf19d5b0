"""Sign-up modes (SR_SIGNUP: closed, open, invite), invite codes, and the failed-login
throttle of the login form (429 before any password check, per username and per address)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import resolve, reverse

from webapp.accounts.models import Invite
from webapp.accounts.views import LoginView
from webapp.testing import ROOT

pytestmark = pytest.mark.django_db
NEW_USER = {"username": "bob", "password1": "a-long-pass-42", "password2": "a-long-pass-42"}


@pytest.fixture(autouse=True)
def fresh_cache(settings: object) -> None:
    """A cache of this test's own: counters from other tests cannot throttle it."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"test-accounts-{uuid.uuid4()}"}}


def _users() -> list[str]:
    return list(get_user_model().objects.values_list("username", flat=True))


# --- sign-up -----------------------------------------------------------------------------
def test_closed_sign_up_is_403_and_the_login_page_hides_the_link(client, settings):
    settings.SR_SIGNUP = "closed"
    for response in (client.get(reverse("signup")), client.post(reverse("signup"), NEW_USER)):
        assert response.status_code == 403
        assert "Sign-up is closed on this site" in response.content.decode()
    assert "bob" not in _users()
    assert reverse("signup") not in client.get(reverse("login")).content.decode()


def test_sign_up_is_closed_by_default():
    env = {k: v for k, v in os.environ.items() if k != "SR_SIGNUP"}
    proc = subprocess.run([sys.executable, "-c", "from webapp import settings as s; "
                           "print(s.SR_SIGNUP)"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.strip() == "closed", proc.stderr


def test_open_sign_up_creates_the_user_and_logs_in(client, settings):
    settings.SR_SIGNUP = "open"
    assert reverse("signup") in client.get(reverse("login")).content.decode()
    response = client.post(reverse("signup"), NEW_USER)
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert "bob" in _users()


def test_invite_sign_up_needs_an_unused_code(client, settings, staff):
    settings.SR_SIGNUP = "invite"
    assert 'name="invite"' in client.get(reverse("signup")).content.decode()
    for code in ("", "not-a-code"):
        response = client.post(reverse("signup"), {**NEW_USER, "invite": code})
        assert response.status_code == 400
    assert "This invite code is unknown or has been used." in response.content.decode()
    invite = Invite.objects.create(created_by=staff)
    assert client.post(reverse("signup"), {**NEW_USER, "invite": invite.code}).status_code == 302
    invite.refresh_from_db()
    assert invite.used_by.username == "bob" and invite.used_at is not None
    client.logout()
    again = client.post(reverse("signup"), {**NEW_USER, "username": "eve",
                                            "invite": invite.code})
    assert again.status_code == 400 and "eve" not in _users()


def test_a_code_spent_by_a_concurrent_sign_up_undoes_this_one(client, settings, monkeypatch):
    settings.SR_SIGNUP = "invite"
    invite = Invite.objects.create()
    Invite.objects.filter(pk=invite.pk).update(used_at=invite.created_at)  # spent meanwhile
    monkeypatch.setattr("webapp.accounts.forms.invite_is_unused", lambda code: True)
    response = client.post(reverse("signup"), {**NEW_USER, "invite": invite.code})
    assert response.status_code == 400
    assert "This invite code is unknown or has been used." in response.content.decode()
    assert "bob" not in _users()


def test_create_invite_prints_a_usable_code(capsys, staff):
    call_command("create_invite", "--by", staff.username)
    code = capsys.readouterr().out.strip()
    invite = Invite.objects.get(code=code)
    assert invite.created_by == staff and invite.used_at is None and len(code) >= 16
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_invite", "--by", "nobody")


# --- failed-login throttle ---------------------------------------------------------------
@pytest.fixture
def alice(settings: object, django_user_model: type) -> object:
    """alice with a fast password hash: the 1 s window must not end while the test fails
    its attempts (each PBKDF2 check takes a good part of a second on a busy machine)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


def _log_in(client: object, username: str, password: str, address: str) -> object:
    return client.post(reverse("login"), {"username": username, "password": password},
                       REMOTE_ADDR=address)


def _fail(client: object, times: int, *, username: str = "alice",
          address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert _log_in(client, username, "wrong-password", address).status_code == 200


def test_login_is_throttled_after_max_failures_even_with_the_right_password(
        client, settings, alice, monkeypatch):
    settings.SR_LOGIN_MAX_FAILURES = 3
    settings.SR_LOGIN_WINDOW_SECONDS = 1
    _fail(client, 3)
    refused = _log_in(client, "alice", "wrong-password", "10.0.0.1")
    assert refused.status_code == 429
    assert "Too many failed log-in attempts: try again in 1 second." in refused.content.decode()
    assert refused["Retry-After"] == "1"

    def no_password_check(*args: object, **kwargs: object) -> None:
        raise AssertionError("a throttled attempt must not check the password")

    with monkeypatch.context() as patch:
        patch.setattr("django.contrib.auth.forms.authenticate", no_password_check)
        assert _log_in(client, "alice", "pw-alice-123", "10.0.0.1").status_code == 429
    assert "_auth_user_id" not in client.session
    time.sleep(1.2)  # the window ends: the counters expire
    assert _log_in(client, "alice", "pw-alice-123", "10.0.0.1").status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_wait_is_stated_in_minutes_for_the_default_window(client, settings, alice):
    settings.SR_LOGIN_MAX_FAILURES = 5
    settings.SR_LOGIN_WINDOW_SECONDS = 15 * 60
    _fail(client, 5)
    refused = _log_in(client, "alice", "pw-alice-123", "10.0.0.1")
    assert refused.status_code == 429
    assert "try again in 15 minutes." in refused.content.decode()


def test_failures_from_many_addresses_throttle_the_username(client, settings, alice):
    settings.SR_LOGIN_MAX_FAILURES = 3
    for i in range(3):
        _fail(client, 1, address=f"10.0.1.{i}")
    assert _log_in(client, "alice", "pw-alice-123", "10.0.1.99").status_code == 429


def test_failures_for_many_usernames_throttle_the_address(client, settings, alice):
    settings.SR_LOGIN_MAX_FAILURES = 3
    for name in ("root", "admin", "test"):
        _fail(client, 1, username=name, address="10.0.2.1")
    assert _log_in(client, "alice", "pw-alice-123", "10.0.2.1").status_code == 429
    assert _log_in(client, "alice", "pw-alice-123", "10.0.2.2").status_code == 302


def test_behind_a_proxy_the_address_is_the_one_nginx_appended(client, settings, alice):
    settings.SR_BEHIND_PROXY = True
    settings.SR_LOGIN_MAX_FAILURES = 2
    for forged in ("1.1.1.1", "2.2.2.2"):  # the client's own X-Forwarded-For entries vary
        response = client.post(reverse("login"), {"username": f"u{forged}", "password": "x"},
                               REMOTE_ADDR="127.0.0.1",
                               HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.7")
        assert response.status_code == 200
    blocked = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"},
                          REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert blocked.status_code == 429
    other = client.post(reverse("login"), {"username": "alice", "password": "pw-alice-123"},
                        REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 302


def test_the_admin_login_is_the_throttled_one():
    assert resolve("/admin/login/").func.view_class is LoginView


def test_login_works_while_the_cache_redis_is_down(client, settings, alice, tmp_path):
    """The throttle's counters live in Redis: an outage turns the throttle off, not the
    login form into a 500."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"unix://{tmp_path / 'no-redis.sock'}"}}
    assert _log_in(client, "alice", "wrong-password", "10.0.0.1").status_code == 200
    assert _log_in(client, "alice", "pw-alice-123", "10.0.0.1").status_code == 302
