-- RFC 8555 §7.3.3: the subscriber-agreement version each ACME account
-- accepted (config agreement.version), read with the account on every
-- request so a changed agreement is noticed without another query.
-- NULL: registered before versions were recorded; the server fills in
-- the version in force when it first starts with this column (the
-- version those accounts registered under), see sa::accounts.
ALTER TABLE accounts ADD COLUMN terms_version TEXT;
-- When that version was accepted (registration, or the customer portal).
ALTER TABLE accounts ADD COLUMN terms_accepted_at TIMESTAMP;
