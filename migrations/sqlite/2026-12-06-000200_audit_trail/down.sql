DROP INDEX audit_events_at;
ALTER TABLE audit_events DROP COLUMN request_id;
