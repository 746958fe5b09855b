//! Domain objects rendered as RFC 8555 resources.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::urls::{self, Urls};
use crate::acme;
use crate::ca::profile::Profile;
use crate::config::Config;
use crate::core::{Account, Authorization, Challenge, Order};

pub fn timestamp(t: OffsetDateTime) -> String {
    // Formatting a UTC time as RFC 3339 cannot fail for years 0..=9999.
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn directory(u: &Urls, cfg: &Config) -> acme::Directory {
    acme::Directory {
        new_nonce: u.abs(urls::NEW_NONCE),
        new_account: u.abs(urls::NEW_ACCOUNT),
        new_order: u.abs(urls::NEW_ORDER),
        revoke_cert: u.abs(urls::REVOKE_CERT),
        key_change: u.abs(urls::KEY_CHANGE),
        renewal_info: u.abs(urls::RENEWAL_INFO),
        meta: acme::DirectoryMeta {
            terms_of_service: cfg.terms_url(),
            website: cfg.acme.website.clone(),
            caa_identities: cfg.acme.caa_identities.clone(),
            external_account_required: cfg.acme.external_account_required,
            profiles: cfg
                .acme
                .profiles
                .iter()
                .filter_map(|name| Profile::parse(name))
                .map(|p| (p.name().to_owned(), p.description().to_owned()))
                .collect(),
        },
    }
}

pub fn account(u: &Urls, a: &Account) -> acme::Account {
    acme::Account {
        status: a.status,
        contact: a.contact.clone(),
        orders: u.orders(a.id, None),
        external_account_binding: None,
    }
}

pub fn order(u: &Urls, o: &Order, now: OffsetDateTime) -> acme::Order {
    acme::Order {
        status: o.status(now),
        expires: timestamp(o.expires_at),
        identifiers: o.names.iter().map(acme::Identifier::dns).collect(),
        not_before: o.not_before.map(timestamp),
        not_after: o.not_after.map(timestamp),
        profile: Some(o.profile.name().to_owned()),
        error: o.error.clone(),
        replaces: o.replaces.clone(),
        authorizations: o.authorizations.iter().map(|a| u.authz(a.id)).collect(),
        finalize: u.finalize(o.id),
        certificate: o.certificate.map(|c| u.certificate(c)),
    }
}

pub fn authorization(u: &Urls, a: &Authorization, now: OffsetDateTime) -> acme::Authorization {
    acme::Authorization {
        identifier: acme::Identifier::dns(&a.identifier),
        status: a.status(now),
        expires: timestamp(a.expires_at),
        challenges: a.challenges.iter().map(|c| challenge(u, c)).collect(),
        wildcard: a.wildcard,
    }
}

pub fn challenge(u: &Urls, c: &Challenge) -> acme::Challenge {
    acme::Challenge {
        kind: c.kind,
        url: u.challenge(c.id),
        status: c.status,
        token: c.token.clone(),
        validated: c.validated_at.map(timestamp),
        error: c.error.clone(),
    }
}
