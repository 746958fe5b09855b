DROP INDEX audit_events_organization_at;
DROP INDEX audit_events_action_at;
DROP INDEX audit_events_actor_at;
