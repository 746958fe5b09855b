CREATE INDEX audit_events_organization ON audit_events(organization_id, id);
