-- The portal's invoice list (docs/portal.md): an organization's documents,
-- newest first, and one of them by id within the organization.
CREATE INDEX invoices_organization ON invoices(organization_id, id);
