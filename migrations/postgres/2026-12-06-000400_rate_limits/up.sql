-- Rate limits (ra::limits). Keep in step with ../../sqlite/.

-- Staff overrides of an organization's limits (admin API, audited): one
-- row per limit overridden; a limit without a row takes the config's.
CREATE TABLE limit_overrides (
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    limit_count BIGINT NOT NULL,
    -- 0 for a limit that is a count, not a rate
    period_secs BIGINT NOT NULL,
    PRIMARY KEY (organization_id, name)
);

-- GCRA buckets every instance shares: the theoretical arrival time, in
-- microseconds since the epoch. A row in the past is as good as none.
-- (SQLite is one process: its buckets live in that process.)
CREATE TABLE rate_limit_buckets (
    key TEXT PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL
);

-- The pending-authorizations limit counts an account's pending rows.
CREATE INDEX authorizations_pending ON authorizations(account_id, expires_at)
    WHERE status = 'pending';
