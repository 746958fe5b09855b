DROP INDEX invoices_organization;
