"""accounts/backends.py: a signed-in request reads its user and their highest role in one
query of SQL written out once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.backends import RoleModelBackend
from accounts.roles import Role, user_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_user_comes_with_their_highest_role_in_one_query(django_assert_num_queries):
    user = UserFactory(role=Role.REVIEWER)
    user.groups.add(Group.objects.get(name=Role.ADMIN), Group.objects.get_or_create(name="ops")[0])
    with django_assert_num_queries(1):
        found = RoleModelBackend().get_user(user.pk)
        assert found == user and user_role(found) == Role.ADMIN
        assert found.username == user.username and found.password == user.password


def test_a_user_without_a_role_has_none():
    user = UserFactory()
    user.groups.clear()  # the factory makes reviewers
    found = RoleModelBackend().get_user(user.pk)
    assert found == user and user_role(found) is None


@pytest.mark.parametrize("user_id", [0, -1, "nope", None, 10**12])
def test_no_such_user_is_nobody(user_id):
    assert RoleModelBackend().get_user(user_id) is None


def test_an_inactive_user_is_nobody():
    user = UserFactory(role=Role.SENIOR, is_active=False)
    assert RoleModelBackend().get_user(user.pk) is None
