"""The request the HTML views are given, typed for what the middleware has put on it."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """Every request, once django-htmx's middleware has run (django-htmx's own recipe)."""

    htmx: HtmxDetails


class SignedInRequest(HtmxHttpRequest):
    """A request to a view behind `login_required` or `role_required`: its user is a signed-in
    User, never AnonymousUser, so services that record who acted can be given it as is."""

    user: User
