# Secrets at rest (issue 9, finding 10): the API key secrets and the enforcement secrets
# are encrypted with Fernet under a key derived from MODQUEUE_SECRETS_KEY or SECRET_KEY
# (moderation/models/fields.py). This encrypts the rows written before; backwards, it
# writes them back in clear.

from django.db import migrations, models
from django.db.models.functions import Cast

import moderation.models.fields
from moderation.models.fields import is_encrypted, secret_decrypt, secret_encrypt

SECRET_COLUMNS = [("apikeysecret", "secret"), ("organization", "enforcement_secret")]


def _rewrite(apps, convert):
    for model_name, field in SECRET_COLUMNS:
        model = apps.get_model("moderation", model_name)
        # Cast reads the column as stored, past the field's decryption.
        rows = model.objects.annotate(stored=Cast(field, models.TextField()))
        for pk, stored in rows.values_list("pk", "stored"):
            new = convert(stored) if stored else stored
            if new != stored:
                model.objects.filter(pk=pk).update(
                    **{field: models.Value(new, output_field=models.TextField())}
                )


def encrypt_rows(apps, schema_editor):
    _rewrite(apps, lambda stored: stored if is_encrypted(stored) else secret_encrypt(stored))


def decrypt_rows(apps, schema_editor):
    _rewrite(apps, secret_decrypt)


class Migration(migrations.Migration):

    dependencies = [
        ('moderation', '0012_audit_two_factor_truncate'),
    ]

    operations = [
        migrations.AlterField(
            model_name='apikeysecret',
            name='secret',
            field=moderation.models.fields.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name='organization',
            name='enforcement_secret',
            field=moderation.models.fields.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
