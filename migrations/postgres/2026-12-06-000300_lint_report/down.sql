ALTER TABLE orders DROP COLUMN lint_report;
