-- Trust seals (vetting::seal, publish::seal): one per organization, made
-- when staff approve it. The id is public once the organization embeds
-- it, but it is looked up only by its SHA-256 (`lookup`), so the index
-- compares digests: how far a guess matches a real id shows in no timing.
CREATE TABLE seals (
    organization_id BIGINT PRIMARY KEY NOT NULL REFERENCES organizations(id),
    -- 128 random bits, base32 (lowercase, no padding): what URLs carry
    seal_id TEXT NOT NULL,
    -- SHA-256 of seal_id, base64url
    lookup TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
