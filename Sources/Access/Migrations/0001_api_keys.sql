-- The access schema: API credentials every Redress HTTP API authenticates against. Only the access
-- layer and `redress apikey` write it. Released: never edit; add 0002_… instead.

CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL,
    -- Empty for admin keys (all hotels).
    hotels          text[] NOT NULL,
    -- Only a SHA-256 of the secret is kept.
    secret_sha256   bytea NOT NULL,
    rate_per_second integer,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    CONSTRAINT api_keys_role_known CHECK (role IN ('publisher', 'staff', 'manager', 'admin'))
);

-- Keys issued before the access layer lived in intake.api_keys: they keep working.
DO $$
BEGIN
    IF to_regclass('intake.api_keys') IS NOT NULL THEN
        INSERT INTO api_keys (id, name, role, hotels, secret_sha256, rate_per_second, created_at, revoked_at)
        SELECT id, name, role, hotels, secret_sha256, rate_per_second, created_at, revoked_at FROM intake.api_keys
        ON CONFLICT (id) DO NOTHING;
    END IF;
END
$$;
