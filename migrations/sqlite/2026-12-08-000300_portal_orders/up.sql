-- Certificate requests in the customer portal without an ACME client
-- (issue #25). Each organization has one portal account: an ordinary ACME
-- account (its public key stored like any account's; the private key was
-- never kept, so nothing can sign for it over ACME), bound to the
-- organization through an EAB credential of its own, as a client's account
-- is. The portal's orders are that account's orders, validated and
-- finalized by the same code as ACME's.
CREATE TABLE portal_accounts (
    organization_id BIGINT PRIMARY KEY REFERENCES organizations(id),
    account_id BIGINT NOT NULL UNIQUE REFERENCES accounts(id),
    -- the credential binding it; never shown to the customer
    eab_credential_id BIGINT NOT NULL UNIQUE REFERENCES eab_credentials(id),
    created_at TIMESTAMP NOT NULL
);

-- An order placed in the portal: the pasted CSR (DER), finalized with once
-- every name is validated, and who placed it (as in audit_events' actor).
CREATE TABLE portal_orders (
    order_id BIGINT PRIMARY KEY REFERENCES orders(id),
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    csr BLOB NOT NULL,
    placed_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- The organization's requests, newest first.
CREATE INDEX portal_orders_organization ON portal_orders(organization_id, order_id);
