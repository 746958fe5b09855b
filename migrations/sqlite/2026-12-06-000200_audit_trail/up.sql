-- The audit trail an auditor reads (BR 5.4.1): every certificate lifecycle
-- and account event, with the request that caused it. The table stays
-- append-only (the triggers of the first migration cover new columns).
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
-- Reading a period (`since`/`until`) in id order.
CREATE INDEX audit_events_at ON audit_events(at, id);
