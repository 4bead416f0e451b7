-- API keys moved to the shared access schema (access.api_keys), which copies intake's keys in its first
-- migration. Every service applies the access migrations before its own, so they are there by now.
DO $$
BEGIN
    IF to_regclass('access.api_keys') IS NULL THEN
        RAISE EXCEPTION 'apply the access migrations before dropping intake.api_keys';
    END IF;
END
$$;

DROP TABLE api_keys;
