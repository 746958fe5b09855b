DROP INDEX certificates_account;
CREATE INDEX certificates_account ON certificates(account_id);
DROP INDEX certificates_issued;
DROP INDEX authorizations_identifier;
