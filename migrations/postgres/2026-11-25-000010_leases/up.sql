-- Leader leases: background work that must run once across all instances
-- sharing the database (CRL generation, sweeps). A holder renews its lease
-- before it expires; when it dies, another instance takes the lease over
-- once it has expired.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
