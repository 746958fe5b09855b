-- E-mail notices (issue #26): written in the transaction of the event
-- they report, delivered by the worker of whichever instance leases them
-- (app::mail). Subject and body are rendered when the notice is written,
-- so the row is exactly what was (or will be) sent.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    -- what kind of notice, e.g. certificate.issued
    kind TEXT NOT NULL,
    -- what it reports on, e.g. certificate:0123ABCD (as in audit_events)
    about TEXT NOT NULL,
    recipient TEXT NOT NULL,
    -- ja or en
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- due from then on (while neither sent nor failed)
    next_attempt_at TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP,
    -- given up: the server refused it for good, or mail.max_attempts ran out
    failed_at TIMESTAMP,
    -- the instance sending it now, until lease_expires_at
    leased_by TEXT,
    lease_expires_at TIMESTAMP
);
-- The worker's one query: due notices, oldest first.
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
-- The failed notices, newest first, a page at a time (the console).
CREATE INDEX outbox_failed ON outbox(id) WHERE failed_at IS NOT NULL;
CREATE INDEX outbox_about ON outbox(about);

-- Every delivery attempt: when, by which instance, and the error (NULL: sent).
CREATE TABLE outbox_attempts (
    id BIGSERIAL PRIMARY KEY,
    outbox_id BIGINT NOT NULL REFERENCES outbox(id),
    attempted_at TIMESTAMP NOT NULL,
    instance TEXT NOT NULL,
    error TEXT
);
CREATE INDEX outbox_attempts_notice ON outbox_attempts(outbox_id);
