//! The vetting queue: organizations of one status, oldest first, a page
//! at a time (keyset), narrowed by a search, each with its checks so the
//! caller can say what blocks it without a query per row.

use std::collections::HashMap;

use super::checks::{Check, VettingStatus};
use super::{Organization, Vetting};
use crate::core::OrganizationId;
use crate::error::Result;
use crate::sa;

/// What a page of the queue asks for.
pub struct QueueQuery {
    pub status: VettingStatus,
    /// What staff typed: part of a name, a TDB code, a registration or
    /// corporate number, or a domain.
    pub search: String,
    /// The last organization of the previous page.
    pub after: Option<OrganizationId>,
    pub limit: usize,
}

/// One organization of a page, with every check recorded for it.
pub struct QueueEntry {
    pub organization: Organization,
    pub checks: Vec<Check>,
}

impl Vetting {
    /// A page of the queue: two statements whatever the page's size (the
    /// organizations, then their checks).
    pub async fn queue(&self, q: QueueQuery) -> Result<Vec<QueueEntry>> {
        let text = normalize_search(&q.search);
        let expired_before = self.clock.now() - self.max_age();
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let (orgs, checks) = self
            .store
            .read(move |c| {
                let filter = sa::organizations::QueueFilter {
                    status: q.status,
                    expired_before,
                    text: Some(&text),
                };
                let orgs = sa::organizations::queue(c, &filter, q.after, limit)?;
                let ids: Vec<OrganizationId> = orgs.iter().map(|o| o.id).collect();
                let checks = sa::organizations::checks_of(c, &ids)?;
                Ok((orgs, checks))
            })
            .await?;
        let mut by_org: HashMap<i64, Vec<Check>> = HashMap::new();
        for c in checks {
            by_org.entry(c.organization).or_default().push(c);
        }
        Ok(orgs
            .into_iter()
            .map(|o| QueueEntry {
                checks: by_org.remove(&o.id.0).unwrap_or_default(),
                organization: o,
            })
            .collect())
    }
}

/// The search as stored text is searched: full-width ASCII (what a
/// Japanese input method types) made half-width, control characters
/// dropped, spaces trimmed, ASCII lowercased.
pub fn normalize_search(q: &str) -> String {
    q.chars()
        .filter_map(|ch| match ch {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0),
            '\u{3000}' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize_search;

    #[test]
    fn full_width_digits_and_letters_search_as_stored() {
        assert_eq!(normalize_search(" １１８０３０１ "), "1180301");
        assert_eq!(normalize_search("Ｅｘａｍｐｌｅ\u{3000}KK"), "example kk");
        assert_eq!(normalize_search("例示\n株式会社"), "例示株式会社");
    }
}
