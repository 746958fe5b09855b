-- Applications from the customer portal (issue #25): each creates or
-- renews an organization record that staff vet as before. The number
-- (A-YYYY-NNNNNN) counts per year without gaps: the year's counter is
-- taken in the transaction that writes the application.
CREATE TABLE application_numbers (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE applications (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    -- the portal's customer account that submitted it
    customer_account_id BIGINT NOT NULL,
    -- who is told about it, and in which language (ja, en)
    customer_email TEXT NOT NULL,
    language TEXT NOT NULL,
    -- new | renewal
    kind TEXT NOT NULL,
    -- open | approved | rejected
    status TEXT NOT NULL,
    validity_days INTEGER NOT NULL,
    -- the organization record as applied for (JSON, as organizations.data)
    data TEXT NOT NULL,
    -- the subscriber agreement version accepted with it
    agreement_version TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    decided_at TIMESTAMP,
    decided_by TEXT,
    decision_reason TEXT
);
CREATE INDEX applications_organization ON applications(organization_id, id);

-- What happened to an application, oldest first: submitted,
-- documents_requested (staff's message), documents_uploaded, approved,
-- rejected, renewed.
CREATE TABLE application_events (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    message TEXT
);
CREATE INDEX application_events_application ON application_events(application_id, id);

-- Files a customer uploaded for a documents request: PDF, PNG or JPEG
-- only (checked by their first bytes and the declared type).
CREATE TABLE application_documents (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications(id),
    organization_id BIGINT NOT NULL REFERENCES organizations(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- hex SHA-256 of content
    sha256 TEXT NOT NULL,
    content BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMP NOT NULL
);
CREATE INDEX application_documents_organization ON application_documents(organization_id, id);
