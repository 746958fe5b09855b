DROP INDEX organizations_status_id;
CREATE INDEX organizations_status ON organizations(status);
ALTER TABLE organizations DROP COLUMN search_text;
