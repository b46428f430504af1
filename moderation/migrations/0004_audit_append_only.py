"""The audit log refuses UPDATE and DELETE on PostgreSQL (SQLite, the demo, has no such guard)."""

from django.db import migrations

from ._postgres import postgres_only

CREATE = """
CREATE OR REPLACE FUNCTION moderation_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER moderation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditevent
    FOR EACH ROW EXECUTE FUNCTION moderation_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_auditevent_append_only ON moderation_auditevent;
DROP FUNCTION IF EXISTS moderation_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("moderation", "0003_review")]
    operations = [postgres_only(CREATE, DROP)]
