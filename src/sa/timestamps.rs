//! Timestamps in rows: UTC without an offset.

use time::{OffsetDateTime, PrimitiveDateTime};

/// Times are stored as UTC without an offset.
pub fn to_db(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    PrimitiveDateTime::new(t.date(), t.time())
}

pub fn from_db(t: PrimitiveDateTime) -> OffsetDateTime {
    t.assume_utc()
}
