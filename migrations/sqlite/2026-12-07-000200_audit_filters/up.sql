-- The console's audit log: newest first by (at, id), filtered by actor,
-- action or organization and a period. Each filter reads its page
-- straight off one of these indexes, in order, with the period as the
-- range (no sort of the period, however many events it holds; see
-- `sa::audit::page`). Unfiltered and period-only pages use
-- audit_events_at (at, id).
CREATE INDEX audit_events_actor_at ON audit_events(actor, at, id);
CREATE INDEX audit_events_action_at ON audit_events(action, at, id);
CREATE INDEX audit_events_organization_at ON audit_events(organization_id, at, id);
