DROP TABLE outbox_attachments;
DROP TABLE document_counters;
DROP TABLE invoices;
DROP TABLE billing_items;
