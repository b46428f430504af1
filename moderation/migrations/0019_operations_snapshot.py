"""The operations dashboard's snapshots (issue 12): one row per period with the figures the
workers' sweep last computed, so the page reads one row instead of aggregating the period's
decisions on every load (services/operations_snapshot.py, docs/operations.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0018_ingest_perf"),
    ]

    operations = [
        migrations.CreateModel(
            name="OperationsSnapshot",
            fields=[
                ("period", models.CharField(max_length=4, primary_key=True, serialize=False)),
                ("computed_at", models.DateTimeField(blank=True, null=True)),
                ("figures", models.JSONField(blank=True, null=True)),
                ("refreshing_until", models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
