-- Console sessions: the cookie holds a random 256-bit id; only its
-- SHA-256 is stored, so a database reader cannot sign in as anyone.
CREATE TABLE staff_sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    -- the CSRF token every form of the session carries
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);
