"""The item table's indexes, as docs/performance.md ("The item table's indexes") questioned
them: each is an entry more for every item ingest writes. Django's own indexes of five
foreign keys go: organization_id and subject_id lead other indexes (the unique request id,
the subject's history), nothing reads items by batch_id, and claimed_by_id and gold_id are
NULL for nearly every item, so partial indexes on the rows that have one serve their
look-ups (a reviewer's held item, a user's deletion check, the golden items' copies).

The foreign keys themselves stay: only their indexes are dropped (by name, as Django named
them), where AlterField would drop and re-add each constraint, checking every row again
under a lock that stops ingest."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "moderation_flaggeditem"
# Django's names for the foreign keys' indexes (the same on every database it created).
FK_INDEXES = {
    "organization_id": "moderation_flaggeditem_organization_id_450ece74",
    "subject_id": "moderation_flaggeditem_subject_id_d39953cf",
    "batch_id": "moderation_flaggeditem_batch_id_5b175e62",
    "claimed_by_id": "moderation_flaggeditem_claimed_by_id_ddd0f607",
    "gold_id": "moderation_flaggeditem_gold_id_66d55300",
}


def _unindexed(name, **field):
    return migrations.AlterField(
        model_name="flaggeditem", name=name, field=models.ForeignKey(db_index=False, **field)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0019_operations_snapshot"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                _unindexed(
                    "batch",
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.SET_NULL,
                    related_name="items",
                    to="moderation.inboundbatch",
                ),
                _unindexed(
                    "claimed_by",
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="claimed_items",
                    to=settings.AUTH_USER_MODEL,
                ),
                _unindexed(
                    "gold",
                    blank=True,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="served",
                    to="moderation.golditem",
                ),
                _unindexed(
                    "organization",
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="items",
                    to="moderation.organization",
                ),
                _unindexed(
                    "subject",
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="items",
                    to="moderation.subject",
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{TABLE}" ("{column}")',
                )
                for column, index in FK_INDEXES.items()
            ],
        ),
        migrations.RemoveIndex(model_name="flaggeditem", name="item_claimed_by_idx"),
        migrations.AddIndex(
            model_name="flaggeditem",
            index=models.Index(
                models.F("claimed_by"),
                condition=models.Q(("claimed_by__isnull", False)),
                name="item_claimed_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="flaggeditem",
            index=models.Index(
                models.F("gold"),
                condition=models.Q(("gold__isnull", False)),
                name="item_gold_idx",
            ),
        ),
    ]
