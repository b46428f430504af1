"""Shared by the service tests: an end user of acme, and acme's enforcement endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.models import Subject
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import SubjectFactory

ENDPOINT = "https://platform.example/hooks/enforcement"


@pytest.fixture
def user(acme: Any) -> Subject:
    return SubjectFactory(organization=acme)


@pytest.fixture
def endpoint(acme: Any) -> str:
    enforcement_endpoint_set(organization=acme, url=ENDPOINT)
    return ENDPOINT
