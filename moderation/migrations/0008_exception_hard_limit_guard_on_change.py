"""The hard-limit guard checks an exception's category when it is set, not on every update.

Otherwise an exception whose category later became a hard limit could not even be revoked:
the revocation's UPDATE tripped the guard (PostgreSQL).
"""

from django.db import migrations

from ._postgres import postgres_only

FUNCTION = """
CREATE OR REPLACE FUNCTION moderation_exception_hard_limit() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.category_id = OLD.category_id THEN
        RETURN NEW;
    END IF;
    IF (SELECT hard_limit FROM moderation_policycategory WHERE id = NEW.category_id) THEN
        RAISE EXCEPTION USING MESSAGE =
            'a hard-limit category cannot be excepted: no contract waives it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION moderation_exception_hard_limit() RETURNS trigger AS $$
BEGIN
    IF (SELECT hard_limit FROM moderation_policycategory WHERE id = NEW.category_id) THEN
        RAISE EXCEPTION USING MESSAGE =
            'a hard-limit category cannot be excepted: no contract waives it';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("moderation", "0007_exception_hard_limit_guard")]
    operations = [postgres_only(FUNCTION, PREVIOUS)]
