-- trustgate initial schema (PostgreSQL). Keep in step with ../../sqlite/.

CREATE TABLE eab_credentials (
    id BIGSERIAL PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    hmac_key BYTEA NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    single_use BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    -- set when an account binds; a single-use credential binds only once
    used_at TIMESTAMP
);

CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    key_thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    eab_credential_id BIGINT REFERENCES eab_credentials(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX accounts_eab_credential ON accounts(eab_credential_id);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    -- pending | processing | valid | invalid; `ready` is derived from the
    -- authorizations so a reused authorization needs no order update.
    status TEXT NOT NULL,
    names TEXT NOT NULL,
    profile TEXT NOT NULL,
    not_before TIMESTAMP,
    not_after TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX orders_account ON orders(account_id, id);

CREATE TABLE authorizations (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    identifier TEXT NOT NULL,
    wildcard BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX authorizations_reuse ON authorizations(account_id, identifier, status, expires_at);

CREATE TABLE order_authorizations (
    order_id BIGINT NOT NULL REFERENCES orders(id),
    authorization_id BIGINT NOT NULL REFERENCES authorizations(id),
    PRIMARY KEY (order_id, authorization_id)
);
CREATE INDEX order_authorizations_authz ON order_authorizations(authorization_id);

CREATE TABLE challenges (
    id BIGSERIAL PRIMARY KEY,
    authorization_id BIGINT NOT NULL REFERENCES authorizations(id),
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    validated_at TIMESTAMP,
    error TEXT,
    validation_records TEXT,
    -- when the current validation attempt began; an attempt left
    -- `processing` by a dead process is picked up again after a while.
    started_at TIMESTAMP
);
CREATE INDEX challenges_authorization ON challenges(authorization_id);
CREATE INDEX challenges_status ON challenges(status, started_at);

CREATE TABLE certificates (
    id BIGSERIAL PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    der BYTEA NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revocation_reason INTEGER
);
CREATE INDEX certificates_account ON certificates(account_id);

-- Redeemed nonces, kept until they expire: nonces are MACed, not stored at
-- issue, so any instance sharing the database redeems each exactly once.
CREATE TABLE used_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX used_nonces_expires ON used_nonces(expires_at);

-- Secrets shared by all instances (the nonce MAC key).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    secret BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL
);
