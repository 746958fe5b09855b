DROP TABLE agreement_acceptances;
DROP TABLE customer_sessions;
DROP TABLE customer_email_tokens;
DROP TABLE customer_accounts;
