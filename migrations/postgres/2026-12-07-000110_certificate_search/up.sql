-- The staff console's certificate search (sa::certificate_search), newest
-- first by (created_at, id):
-- * by DNS name, from the authorizations of that name
--   (authorizations_reuse leads with the account, so it cannot serve it);
-- * every certificate, or an issuance date range, by certificates_issued;
-- * an organization's, by its accounts: certificates_account gains the
--   order columns, so each account's newest come first and a page stops
--   after 50 (without them a large organization's certificates were all
--   read and sorted: 0.4 s for 200,000 of 1,000,000 on SQLite). It still
--   serves every lookup by account.
CREATE INDEX authorizations_identifier ON authorizations(identifier);
CREATE INDEX certificates_issued ON certificates(created_at, id);
DROP INDEX certificates_account;
CREATE INDEX certificates_account ON certificates(account_id, created_at, id);
