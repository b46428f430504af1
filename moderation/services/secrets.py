"""The secrets stored encrypted at rest (moderation/models/fields.py), as a whole."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models.functions import Cast

from moderation.models import ApiKeySecret, AuditAction, Organization
from moderation.models.fields import secret_reencrypt
from moderation.services.audit import audit_record

# Every column an EncryptedTextField stores.
SECRET_COLUMNS: list[tuple[type[models.Model], str]] = [
    (ApiKeySecret, "secret"),
    (Organization, "enforcement_secret"),
]


@transaction.atomic
def secrets_reencrypt(*, actor: User | None = None) -> int:
    """Encrypt every stored secret under the current key; returns how many were rewritten.

    The step of a rotation between "new key, old one in the fallbacks" and "fallback
    dropped" (docs/security.md). The rows are locked while rewritten, so a secret set at
    the same moment is never overwritten by its old value.
    """
    count = 0
    for model, field in SECRET_COLUMNS:
        # Cast reads the column as stored (ciphertext), past the field's decryption.
        rows = (
            model._default_manager.select_for_update()
            .annotate(stored=Cast(field, models.TextField()))
            .exclude(stored="")
            .order_by("pk")
            .values_list("pk", "stored")
        )
        for pk, stored in rows:
            written = secret_reencrypt(stored)
            model._default_manager.filter(pk=pk).update(
                **{field: models.Value(written, output_field=models.TextField())}
            )
            count += 1
    audit_record(
        actor=actor,
        action=AuditAction.SECRETS_REENCRYPT,
        target="stored secrets",
        detail={"reencrypted": count},
    )
    return count
