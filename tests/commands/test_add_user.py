"""accounts' add_user command (CONTRACT §2)."""

from __future__ import annotations

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError

from accounts.roles import Role, user_role
from tests.factories import PASSWORD, UserFactory, logs_in, manage, run

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_add_user_creates_a_user_with_a_role_and_a_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("RITA_PASSWORD", "a long enough password")
    out = run("add_user", "rita", "--role", "reviewer", "--password-env", "RITA_PASSWORD")
    assert out.strip() == "created rita as reviewer"
    rita = User.objects.get(username="rita")
    assert rita.check_password("a long enough password")
    assert user_role(rita) == Role.REVIEWER
    assert logs_in("rita", "a long enough password")


@pytest.mark.parametrize("role", ["reviewer", "senior", "admin"])
def test_add_user_gives_each_role(monkeypatch, role):
    monkeypatch.setenv("PW", "pw-for-everyone")
    run("add_user", "someone", "--role", role, "--password-env", "PW")
    assert user_role(User.objects.get(username="someone")) == Role(role)


def test_add_user_changes_the_role_of_an_existing_user_and_keeps_the_password():
    UserFactory(username="sam", role=Role.REVIEWER)
    out = run("add_user", "sam", "--role", "senior")
    assert out.strip() == "updated sam as senior"
    sam = User.objects.get(username="sam")
    assert {g.name for g in sam.groups.all()} == {"senior"}
    assert sam.check_password(PASSWORD)
    assert User.objects.filter(username="sam").count() == 1


def test_add_user_sets_a_new_password_for_an_existing_user(monkeypatch):
    UserFactory(username="sam", role=Role.REVIEWER)
    monkeypatch.setenv("SAM_PASSWORD", "a brand new password")
    run("add_user", "sam", "--role", "reviewer", "--password-env", "SAM_PASSWORD")
    assert User.objects.get(username="sam").check_password("a brand new password")


@pytest.mark.parametrize("value", [None, ""])
def test_add_user_refuses_a_missing_or_empty_password_variable(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    else:
        monkeypatch.setenv("NOT_SET_ANYWHERE", value)
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        run("add_user", "rita", "--role", "reviewer", "--password-env", "NOT_SET_ANYWHERE")
    assert not User.objects.filter(username="rita").exists()


def test_add_user_prompts_for_the_password_twice(monkeypatch):
    answers = iter(["typed at the prompt", "typed at the prompt"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    run("add_user", "ada", "--role", "admin")
    assert User.objects.get(username="ada").check_password("typed at the prompt")


def test_add_user_refuses_prompted_passwords_that_differ(monkeypatch):
    answers = iter(["one password", "another password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="do not match"):
        run("add_user", "ada", "--role", "admin")
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.parametrize("argv", [["rita"], ["rita", "--role", "owner"]])
def test_add_user_requires_a_known_role(argv):
    with pytest.raises(CommandError, match="--role"):
        run("add_user", *argv)


# --- v2: Django's password validators (CONTRACT §2 v2, issue 9 finding 4) ---------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "too short"),
        ("password1234", "too common"),
        ("839201746152", "entirely numeric"),
        ("rita-lovelace-77", "too similar"),
    ],
    ids=["short", "common", "numeric", "like-the-username"],
)
def test_it_refuses_a_weak_password_for_a_new_user_and_creates_no_one(
    monkeypatch, password, reason
):
    monkeypatch.setenv("RITA_PASSWORD", password)
    with pytest.raises(CommandError, match=reason):
        run("add_user", "rita-lovelace", "--role", "reviewer", "--password-env", "RITA_PASSWORD")
    assert not User.objects.filter(username="rita-lovelace").exists()


def test_it_refuses_a_weak_new_password_for_an_existing_user_and_changes_nothing(monkeypatch):
    UserFactory(username="sam", role=Role.REVIEWER)
    monkeypatch.setenv("SAM_PASSWORD", "123456789012")
    with pytest.raises(CommandError, match="entirely numeric"):
        run("add_user", "sam", "--role", "admin", "--password-env", "SAM_PASSWORD")
    sam = User.objects.get(username="sam")
    assert sam.check_password(PASSWORD)
    assert user_role(sam) == Role.REVIEWER


def test_it_refuses_a_weak_password_typed_at_the_prompt(monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "qwerty")
    with pytest.raises(CommandError, match="too short"):
        run("add_user", "ada", "--role", "admin")
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_weak_password_exits_non_zero_with_every_reason(monkeypatch):
    monkeypatch.setenv("WEAK_PASSWORD", "12345")
    done = manage("add_user", "rita", "--role", "reviewer", "--password-env", "WEAK_PASSWORD")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "too short" in done.stderr and "too common" in done.stderr
    assert "entirely numeric" in done.stderr
    assert "12345" not in done.stderr and "Traceback" not in done.stderr
    assert not User.objects.filter(username="rita").exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_strong_password_is_accepted(monkeypatch, settings):
    monkeypatch.setenv("GOOD_PASSWORD", "correct horse battery staple")
    done = manage("add_user", "rita", "--role", "reviewer", "--password-env", "GOOD_PASSWORD")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created rita as reviewer"
    # The child process hashed with the project's hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    assert User.objects.get(username="rita").check_password("correct horse battery staple")
