"""Two-factor authentication on django-otp: a TOTP device per user, ten one-time recovery
codes, and the log in step between a right password and a signed-in session.

This module keeps devices and codes only; the audited actions (set up, new recovery codes,
an admin's reset) are moderation's `services.two_factor`, as roles are `services.roles`.
"""

from __future__ import annotations

import re
from base64 import b32encode
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import qrcode
import qrcode.image.svg
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10
# The code step after a right password: how long it waits, and how many wrong codes it takes
# before the password has to be entered again (each also counts as a failed log in for
# django-axes, whose lock then stops the password step too).
PENDING_SECONDS = 300
PENDING_MAX_FAILURES = 5
PENDING_SESSION_KEY = "two_factor_pending"

_TOTP_CODE = re.compile(r"\d{6}")


def totp_enabled(user: User) -> bool:
    """A confirmed authenticator app: log in asks for a code after the password."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def users_with_two_factor() -> QuerySet[User]:
    """Every user, with `two_factor` (a confirmed TOTP device) and their groups (roles)."""
    confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    return (
        User.objects.annotate(two_factor=Exists(confirmed))
        .prefetch_related("groups")
        .order_by("username")
    )


def totp_device_unconfirmed(*, user: User) -> TOTPDevice:
    """The device being set up: the same secret on every visit until a right code confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def secret_key_text(device: TOTPDevice) -> str:
    """The secret in base32, as authenticator apps take it, in groups of four for reading."""
    key = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The otpauth:// URL as an inline SVG QR code: no image request, no data: URI, no style
    attribute (the Content-Security-Policy allows none)."""
    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, border=4
    )
    root: ElementTree.Element = image.get_image()
    for size in ("width", "height"):
        root.attrib.pop(size, None)  # sized by the stylesheet's .qr
    root.set("class", "qr")
    root.set("role", "img")
    root.set("aria-label", "QR image for authenticator apps")
    # ElementTree escapes every attribute and text; the only input is our own otpauth URL.
    return mark_safe(ElementTree.tostring(root, encoding="unicode"))  # noqa: S308


def totp_confirm(*, user: User, code: str) -> TOTPDevice | None:
    """Confirm the device being set up if `code` is right (django-otp throttles wrong ones);
    other unconfirmed devices of the user go. None when the code is wrong."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None or not device.verify_token(_normalized(code)):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        return device


def recovery_codes_replace(*, user: User) -> list[str]:
    """Ten new one-time codes; the old ones stop working. Shown once: only the codes are kept."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_remove(*, user: User) -> int:
    """Delete every TOTP and static device of the user; how many there were."""
    with transaction.atomic():
        totp, _ = TOTPDevice.objects.filter(user=user).delete()
        static = StaticDevice.objects.filter(user=user).count()
        StaticDevice.objects.filter(user=user).delete()  # their tokens cascade
    return totp + static


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None  # the device that accepted the code
    throttled: bool  # a device refused to check at all: too many wrong codes too fast


def code_verify(*, user: User, code: str) -> CodeCheck:
    """The log in step: six digits are checked against the authenticator app, anything else
    against the recovery codes (a right one is used up). django-otp throttles each device:
    after n wrong codes it refuses any code, right or wrong, for 2^(n-1) seconds."""
    token = _normalized(code)
    model: type[TOTPDevice] | type[StaticDevice] = (
        TOTPDevice if _TOTP_CODE.fullmatch(token) else StaticDevice
    )
    throttled = False
    with transaction.atomic():
        devices = model.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices:
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(token):
                return CodeCheck(device=device, throttled=False)
    return CodeCheck(device=None, throttled=throttled)


def _normalized(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


# --- The pending log in: a right password, no code yet ------------------------------------


@dataclass(frozen=True)
class Pending:
    user: User
    backend: str
    next_url: str


def pending_start(session: SessionBase, *, user: User, backend: str, next_url: str) -> None:
    """Remember who gave a right password; they are not signed in until a right code."""
    session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": backend,
        "next": next_url,
        "since": timezone.now().timestamp(),
        "failures": 0,
    }


def pending_read(session: SessionBase) -> Pending | None:
    """The pending log in, or None if there is none or it is older than PENDING_SECONDS
    (then it is forgotten)."""
    data: dict[str, Any] | None = session.get(PENDING_SESSION_KEY)
    if data is None:
        return None
    fresh = timezone.now().timestamp() - data["since"] <= PENDING_SECONDS
    user = User.objects.filter(pk=data["user"], is_active=True).first() if fresh else None
    if user is None:
        pending_end(session)
        return None
    return Pending(user=user, backend=data["backend"], next_url=data["next"])


def pending_failed(session: SessionBase) -> int:
    """Count one wrong code; how many so far."""
    data = session[PENDING_SESSION_KEY]
    data["failures"] += 1
    session.modified = True
    return int(data["failures"])


def pending_end(session: SessionBase) -> None:
    session.pop(PENDING_SESSION_KEY, None)
