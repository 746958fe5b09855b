-- Staff identities (they were [[admin.staff]] in the config): every admin
-- API call and CLI action is attributed to one of these rows.
CREATE TABLE staff (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- comma-separated: view, vet, approve
    roles TEXT NOT NULL,
    -- argon2id, PHC string
    password_hash TEXT NOT NULL,
    -- the RFC 6238 secret, sealed like EAB keys (vetting::sealing)
    totp_secret BYTEA NOT NULL,
    -- the last TOTP time step accepted: a code is good once
    totp_last_step BIGINT,
    -- the password is a one-time one (from `staff add` or `staff reset`)
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    disabled_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL
);

-- API tokens: only their SHA-256 is stored; `token_prefix` (the hash's
-- first 8 hex digits) finds the candidates, which are then compared in
-- constant time.
CREATE TABLE staff_tokens (
    id BIGSERIAL PRIMARY KEY,
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    label TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP
);
CREATE INDEX staff_tokens_prefix ON staff_tokens(token_prefix);
CREATE INDEX staff_tokens_staff ON staff_tokens(staff_id);
