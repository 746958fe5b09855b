-- Notices sent at most once per subject (sa::outbox::enqueue_once): the
-- first gate refusal of an organization's vetting, the vetting ending
-- within 30 days (per vetting end), a certificate expiring unreplaced.
-- The row is inserted with the notice in one transaction, so a notice
-- is written at most once and never lost.
CREATE TABLE notices_once (
    kind TEXT NOT NULL,
    -- what the notice is about, made unique per occasion, e.g.
    -- `organization:7@2027-01-05` (the vetting's end) or `certificate:SERIAL`
    about TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, about)
);
