"""How subject_export and subject_erase name a person (CONTRACT §2, _subject_args.py): an
organization and a raw user id or, with --hash, its hash; anything else refused with a clear
message and, from a shell, a non-zero exit."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from moderation.models import AuditAction, AuditEvent
from tests.factories import SubjectFactory, manage, run
from tests.privacy import USER_ID

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
def test_subject_commands_refuse_an_unknown_organization(record, command):
    with pytest.raises(CommandError, match="no organization 'initech'"):
        run(command, "initech", USER_ID)


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
def test_subject_commands_refuse_an_unknown_user(record, command):
    with pytest.raises(CommandError, match="nothing is held about this user"):
        run(command, "acme", "never-seen")
    unknown_hash = "0" * 64
    with pytest.raises(CommandError, match="nothing is held about this user"):
        run(command, "acme", unknown_hash, "--hash")
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.SUBJECT_EXPORT, AuditAction.SUBJECT_ERASE]
    ).exists()


@pytest.mark.parametrize("command", ["subject_export", "subject_erase"])
@pytest.mark.parametrize("given", ["abc", "A" * 64, "g" * 64, "0" * 63, USER_ID])
def test_subject_commands_refuse_a_malformed_hash(record, command, given):
    with pytest.raises(CommandError, match="64 lowercase hex characters"):
        run(command, "acme", given, "--hash")


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_the_subject_commands_exit_non_zero_with_a_clear_message(acme):
    SubjectFactory(organization=acme)
    cases = [
        (("subject_export", "initech", "u-1"), "no organization 'initech'"),
        (("subject_export", "acme", "never-seen"), "nothing is held about this user"),
        (("subject_export", "acme", "xyz", "--hash"), "64 lowercase hex characters"),
        (("subject_erase", "acme", "never-seen"), "nothing is held about this user"),
    ]
    for argv, message in cases:
        done = manage(*argv)
        assert done.returncode != 0, argv
        assert message in done.stderr, (argv, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
