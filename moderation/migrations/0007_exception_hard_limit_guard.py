"""The database itself refuses an exception to a hard-limit category (PostgreSQL)."""

from django.db import migrations

from ._postgres import postgres_only

CREATE = """
CREATE OR REPLACE FUNCTION moderation_exception_hard_limit() RETURNS trigger AS $$
BEGIN
    IF (SELECT hard_limit FROM moderation_policycategory WHERE id = NEW.category_id) THEN
        RAISE EXCEPTION USING MESSAGE =
            'a hard-limit category cannot be excepted: no contract waives it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER moderation_policyexception_hard_limit
    BEFORE INSERT OR UPDATE ON moderation_policyexception
    FOR EACH ROW EXECUTE FUNCTION moderation_exception_hard_limit();
"""

DROP = """
DROP TRIGGER IF EXISTS moderation_policyexception_hard_limit ON moderation_policyexception;
DROP FUNCTION IF EXISTS moderation_exception_hard_limit();
"""


class Migration(migrations.Migration):
    dependencies = [("moderation", "0006_policy_privacy")]
    operations = [postgres_only(CREATE, DROP)]
