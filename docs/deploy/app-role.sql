-- The privileges of modqueue's app role, the role the web server and the workers connect as
-- (DATABASE_URL). Run as the owner role, the one that runs `manage.py migrate` and owns the
-- tables, on modqueue's database, after every migrate; running it again changes nothing.
-- `make serve` runs it after its migrate when MIGRATE_DATABASE_URL is set (docs/deploy.md):
--
--   psql "$MIGRATE_DATABASE_URL" -v ON_ERROR_STOP=1 -v app_role=modqueue_app -f docs/deploy/app-role.sql
--
-- :"app_role" is psql's variable, quoted as an identifier: the app role's name.
-- tests/test_audit_role.py runs this very file and proves what it allows and refuses.

GRANT USAGE ON SCHEMA public TO :"app_role";

-- Read and write every table and sequence the migrations made...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- ...and those the owner's later migrations make, from the moment they exist.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";

-- The audit log is append-only: the app reads it and adds rows, and may not change, delete or
-- empty them. Last, so that it takes back what the grants above gave. The default privileges
-- would give an audit table made by a later migration UPDATE and DELETE as well: that is why
-- this file runs after every migrate, not once.
REVOKE ALL ON moderation_auditevent FROM :"app_role";
GRANT SELECT, INSERT ON moderation_auditevent TO :"app_role";
