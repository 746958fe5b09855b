DROP INDEX authorizations_pending;
DROP TABLE rate_limit_buckets;
DROP TABLE limit_overrides;
