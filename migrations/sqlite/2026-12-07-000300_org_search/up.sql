-- The vetting queue's search (console): the fields staff search by, in one
-- ASCII-lowercased text, one field a line (legal name, English name, TDB
-- code, registration number, corporate number, then each domain). Kept by
-- sa::organizations::search_text on every write; searched with LIKE within
-- one status, walked in id order through organizations_status_id.
ALTER TABLE organizations ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
DROP INDEX organizations_status;
CREATE INDEX organizations_status_id ON organizations(status, id);
-- backfill (sa::organizations tests run what follows against search_text)
UPDATE organizations SET search_text = lower(
    coalesce(json_extract(data, '$.legal_name'), '') || char(10) ||
    coalesce(json_extract(data, '$.english_name'), '') || char(10) ||
    coalesce(json_extract(data, '$.tdb_code'), '') || char(10) ||
    coalesce(json_extract(data, '$.registration_number'), '') || char(10) ||
    coalesce(json_extract(data, '$.corporate_number'), '') || char(10) ||
    coalesce((SELECT group_concat(json_extract(d.value, '$.name'), char(10))
              FROM json_each(organizations.data, '$.domains') AS d), '')
);
