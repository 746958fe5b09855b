-- trustgate initial schema (SQLite). Keep in step with ../../postgres/.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- indexed copies of fields of `data`, for lists and filters
    legal_name TEXT NOT NULL,
    level TEXT NOT NULL,
    -- pending | approved | rejected | suspended | expired
    status TEXT NOT NULL,
    -- everything the application collects, as JSON (vetting::OrganizationData)
    data TEXT NOT NULL,
    -- checks recorded before this moment describe older data and no longer count
    data_changed_at TIMESTAMP NOT NULL,
    status_reason TEXT,
    approved_by TEXT,
    approved_at TIMESTAMP,
    -- when the oldest check behind the approval was performed; vetting
    -- expires a configured age after it
    vetted_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX organizations_status ON organizations(status);

-- Append-only record of each vetting check (who checked what, when, how).
CREATE TABLE vetting_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    kind TEXT NOT NULL,
    passed BOOLEAN NOT NULL,
    -- the check's own fields as JSON (vetting::CheckRecord)
    details TEXT NOT NULL,
    performed_by TEXT NOT NULL,
    performed_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE INDEX vetting_checks_organization ON vetting_checks(organization_id, recorded_at);

-- Append-only audit trail: every staff action and every gate refusal.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations(id),
    subject TEXT NOT NULL,
    reason TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_organization ON audit_events(organization_id, id);

CREATE TABLE eab_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id TEXT NOT NULL UNIQUE,
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    hmac_key BLOB NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    single_use BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    -- set when an account binds; a single-use credential binds only once
    used_at TIMESTAMP
);

CREATE INDEX eab_credentials_organization ON eab_credentials(organization_id);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    contact TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    eab_credential_id BIGINT REFERENCES eab_credentials(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX accounts_eab_credential ON accounts(eab_credential_id);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    -- the last refusal by the vetting gate, shown to staff; cleared on issuance
    gate_refusal TEXT,
    -- CAA records seen and the decision per name at the last finalize (JSON)
    caa_evidence TEXT,
    -- RFC 9773: ARI identifier (canonical base64url AKI.serial) of the certificate this order replaces
    replaces TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX orders_account ON orders(account_id, id);
CREATE INDEX orders_gate_refusal ON orders(status, gate_refusal);
CREATE INDEX orders_replaces ON orders(replaces);

CREATE TABLE authorizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT NOT NULL UNIQUE,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    der BLOB NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revocation_reason INTEGER,
    -- the CRL shard that lists this certificate once revoked (in its CRLDP)
    crl_shard INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX certificates_revoked ON certificates(crl_shard, revoked_at);
CREATE INDEX certificates_account ON certificates(account_id);

-- The published CRL of each shard (certificates.crl_shard): the latest
-- signed DER and its cRLNumber, which only grows (RFC 5280 §5.2.3), and
-- how many revoked certificates the shard had when it was built.
CREATE TABLE crls (
    shard INTEGER PRIMARY KEY NOT NULL,
    number BIGINT NOT NULL,
    this_update TIMESTAMP NOT NULL,
    next_update TIMESTAMP NOT NULL,
    der BLOB NOT NULL,
    revoked_count BIGINT NOT NULL,
    generated_at TIMESTAMP NOT NULL
);

-- Keys that must never be certified again (reported compromised).
CREATE TABLE blocked_keys (
    spki_sha256 TEXT PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    blocked_at TIMESTAMP NOT NULL
);

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
    secret BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- The audit trail is append-only, enforced by the database itself.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER vetting_checks_no_update BEFORE UPDATE ON vetting_checks
BEGIN SELECT RAISE(ABORT, 'vetting_checks is append-only'); END;
CREATE TRIGGER vetting_checks_no_delete BEFORE DELETE ON vetting_checks
BEGIN SELECT RAISE(ABORT, 'vetting_checks is append-only'); END;
