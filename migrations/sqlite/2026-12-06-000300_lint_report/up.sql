-- What the external pre-issuance linter (pkilint) said at the order's
-- latest finalize, as JSON (ca::linter::LintReport): the findings that
-- refused it, or the warnings and notes of the certificate issued.
ALTER TABLE orders ADD COLUMN lint_report TEXT;
