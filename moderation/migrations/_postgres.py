"""For migrations whose SQL only PostgreSQL runs (triggers); SQLite, the demo's, skips it.

Named with a leading underscore, so Django's migration loader does not take it for one.
"""

from __future__ import annotations

from django.db import migrations


def postgres_only(forwards_sql: str, backwards_sql: str) -> migrations.RunPython:
    def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(forwards_sql)

    def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(backwards_sql)

    return migrations.RunPython(forwards, backwards)
