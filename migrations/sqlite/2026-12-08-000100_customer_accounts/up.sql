-- Customer accounts of the portal (issue #25): an e-mail address (the
-- account id, lowercased) verified by a one-time link, an argon2id
-- password and the account holder's contact data. organization_id is
-- set when the customer's first application creates the organization.
CREATE TABLE customer_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    -- argon2id, PHC string
    password_hash TEXT NOT NULL,
    verified_at TIMESTAMP,
    contact_name TEXT NOT NULL,
    organization_name TEXT NOT NULL,
    department TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    address TEXT NOT NULL,
    phone TEXT NOT NULL,
    fax TEXT NOT NULL,
    -- ja or en: the account's pages and mail
    language TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX customer_accounts_organization ON customer_accounts(organization_id);

-- E-mail verification links: only the token's SHA-256 is stored; good
-- once, until expires_at.
CREATE TABLE customer_email_tokens (
    token_sha256 TEXT PRIMARY KEY NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customer_accounts(id),
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX customer_email_tokens_customer ON customer_email_tokens(customer_id);

-- Portal sessions, as staff_sessions: the cookie's SHA-256 and the CSRF
-- token of the session's forms.
CREATE TABLE customer_sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customer_accounts(id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX customer_sessions_customer ON customer_sessions(customer_id);

-- Every acceptance of the subscriber agreement: which version, when, from
-- which address. Kept for the record; the newest one counts.
CREATE TABLE agreement_acceptances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customer_accounts(id),
    version TEXT NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    remote_address TEXT
);
CREATE INDEX agreement_acceptances_customer ON agreement_acceptances(customer_id, id);
