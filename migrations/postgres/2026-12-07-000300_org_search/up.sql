-- The vetting queue's search (console): the fields staff search by, in one
-- ASCII-lowercased text, one field a line (legal name, English name, TDB
-- code, registration number, corporate number, then each domain). Kept by
-- sa::organizations::search_text on every write; searched with LIKE within
-- one status, walked in id order through organizations_status_id.
ALTER TABLE organizations ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
DROP INDEX organizations_status;
CREATE INDEX organizations_status_id ON organizations(status, id);
-- backfill (sa::organizations tests run what follows against search_text)
-- lower() under the "C" collation folds ASCII only, as the code does.
UPDATE organizations SET search_text = lower((
    coalesce(data::jsonb ->> 'legal_name', '') || chr(10) ||
    coalesce(data::jsonb ->> 'english_name', '') || chr(10) ||
    coalesce(data::jsonb ->> 'tdb_code', '') || chr(10) ||
    coalesce(data::jsonb ->> 'registration_number', '') || chr(10) ||
    coalesce(data::jsonb ->> 'corporate_number', '') || chr(10) ||
    coalesce((SELECT string_agg(d.value ->> 'name', chr(10) ORDER BY d.n)
              FROM jsonb_array_elements(organizations.data::jsonb -> 'domains')
                   WITH ORDINALITY AS d(value, n)), '')
) COLLATE "C");
