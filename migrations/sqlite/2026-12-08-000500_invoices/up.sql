-- Invoices (issue #26, docs/invoices.md).
--
-- billing_items: what one issued certificate costs and who pays, written
-- in the transaction that stores the certificate (so the billing contact
-- is the one on record at issuance); the invoice job turns each into one
-- invoice.
CREATE TABLE billing_items (
    certificate_id BIGINT PRIMARY KEY REFERENCES certificates(id),
    organization_id BIGINT NOT NULL,
    serial TEXT NOT NULL,
    -- ov or ev
    level TEXT NOT NULL,
    wildcard BOOLEAN NOT NULL,
    validity_days INTEGER NOT NULL,
    -- JSON array of the certificate's names
    names TEXT NOT NULL,
    -- the unit price before tax, from the price list in force at issuance
    price_yen BIGINT NOT NULL,
    -- JSON: the billing contact as the organization record held it
    recipient TEXT NOT NULL,
    -- the address the invoice is e-mailed to
    recipient_email TEXT NOT NULL,
    -- ja or en (the e-mail; the PDF is Japanese)
    language TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    -- set by the transaction that writes its invoice
    invoice_id BIGINT
);
-- The job's one query: items not invoiced yet, oldest first.
CREATE INDEX billing_items_open ON billing_items(issued_at) WHERE invoice_id IS NULL;

-- Invoices and credit notes (kind), each its own numbered document.
-- Amounts of a credit note are negative. Nothing here is updated after it
-- is written but paid_at / paid_by.
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 2026-000001 (invoice) or C2026-000001 (credit note); gapless per series and year
    number TEXT NOT NULL UNIQUE,
    -- invoice or credit_note
    kind TEXT NOT NULL,
    certificate_id BIGINT NOT NULL REFERENCES certificates(id),
    -- a credit note: the invoice it cancels
    credits_invoice_id BIGINT REFERENCES invoices(id),
    organization_id BIGINT NOT NULL,
    serial TEXT NOT NULL,
    -- calendar dates in Japan (YYYY-MM-DD)
    issue_date TEXT NOT NULL,
    transaction_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_email TEXT NOT NULL,
    description TEXT NOT NULL,
    -- before tax, at the 10% rate; the tax on it (floored once); the sum
    amount_yen BIGINT NOT NULL,
    tax_yen BIGINT NOT NULL,
    total_yen BIGINT NOT NULL,
    pdf BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- job:INSTANCE or staff:NAME#ID
    created_by TEXT NOT NULL,
    -- a credit note: why
    reason TEXT,
    paid_at TIMESTAMP,
    paid_by TEXT
);
-- One invoice per certificate, one credit note per invoice; a
-- certificate's documents (and the foreign key's lookups).
CREATE UNIQUE INDEX invoices_per_certificate ON invoices(certificate_id) WHERE kind = 'invoice';
CREATE INDEX invoices_certificate ON invoices(certificate_id);
CREATE UNIQUE INDEX invoices_credit_per_invoice ON invoices(credits_invoice_id) WHERE credits_invoice_id IS NOT NULL;
-- The console's month and CSV export.
CREATE INDEX invoices_issue_date ON invoices(issue_date, id);
-- Unpaid and overdue invoices.
CREATE INDEX invoices_unpaid ON invoices(due_date, id) WHERE paid_at IS NULL AND kind = 'invoice';

-- The last number of each series per year; incremented in the
-- transaction that writes the document, so a rolled-back document leaves
-- no gap and concurrent writers wait for each other on the row.
CREATE TABLE document_counters (
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (series, year)
);

-- Files sent with a notice (the invoice's PDF).
CREATE TABLE outbox_attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id BIGINT NOT NULL REFERENCES outbox(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX outbox_attachments_notice ON outbox_attachments(outbox_id);
