-- An organization's audit events are read newest first by (at, id) off
-- audit_events_organization_at (`sa::audit::list` and `page`), so this
-- index only cost every audit insert a page (an issuance records four
-- events).
DROP INDEX audit_events_organization;
