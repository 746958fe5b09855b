DROP INDEX authorizations_pending;
DROP TABLE limit_overrides;
