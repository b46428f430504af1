"""The batch payload compressed with lz4 rather than PostgreSQL's default pglz (PostgreSQL
only; SQLite, the demo's, skips it).

Every accepted message is written once into its batch's `payload` (jsonb, about 0.5 MB for
500 items) and read back once by the worker. Measured on the shipped corpus, a 500-item
payload costs the backend about 12 ms of CPU to write and 3 ms to read with pglz, 4.5 ms and
2.2 ms with lz4, for about 8 % more space, which lives only until the batch is processed
(docs/performance.md, Ingest). Only values written afterwards are compressed with lz4.
"""

from django.db import migrations

from ._postgres import postgres_only

FORWARDS = "ALTER TABLE moderation_inboundbatch ALTER COLUMN payload SET COMPRESSION lz4"
BACKWARDS = "ALTER TABLE moderation_inboundbatch ALTER COLUMN payload SET COMPRESSION pglz"


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0017_sla_audit"),
    ]

    operations = [postgres_only(FORWARDS, BACKWARDS)]
