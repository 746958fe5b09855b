DROP TABLE portal_orders;
DROP TABLE portal_accounts;
