//! `/terms/acme/{account id}`: a customer accepts the agreement in force
//! for an ACME account of their organization (RFC 8555 §7.3.3), the page
//! a `userActionRequired` problem's `instance` names. The account is
//! loaded through the session's organization (another organization's
//! answers 404); `vetting::accounts` records and audits the acceptance.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::pages::{self, chrome, Chrome};
use super::{i18n::Lang, Ctx, Form, Portal, Session};
use crate::core::AccountId;
use crate::error::{Error, Result};
use crate::http::page::see_other;
use crate::vetting::accounts::TermsAcceptance;

/// The page's words.
pub struct Words {
    pub title: &'static str,
    pub account: &'static str,
    pub accepted: &'static str,
    pub none: &'static str,
    pub current: &'static str,
    pub must_accept: &'static str,
    pub up_to_date: &'static str,
    pub accept: &'static str,
    pub deactivated: &'static str,
}

const JA: Words = Words {
    title: "ACME アカウントの利用規約",
    account: "ACME アカウント",
    accepted: "同意済みの版",
    none: "（記録なし）",
    current: "現在の版",
    must_accept: "利用規約が改定されました。このアカウントで証明書を申請するには、現在の版に同意してください。同意の後、ACME クライアント（certbot など）の同じコマンドをもう一度実行してください。",
    up_to_date: "このアカウントは現在の利用規約に同意済みです。ACME クライアントはそのまま使えます。",
    accept: "このアカウントについて利用規約に同意する",
    deactivated: "このアカウントは無効です。",
};

const EN: Words = Words {
    title: "Subscriber agreement for an ACME account",
    account: "ACME account",
    accepted: "Version accepted",
    none: "(none recorded)",
    current: "Version in force",
    must_accept: "The subscriber agreement has changed. Accept the version in force for this account to request certificates with it; then run the same ACME client (certbot …) command again.",
    up_to_date: "This account has accepted the agreement in force; its ACME client can go on.",
    accept: "Accept the subscriber agreement for this account",
    deactivated: "This account is deactivated.",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

#[derive(askama::Template)]
#[template(path = "portal/acme_terms.html")]
struct TermsPage<'a> {
    c: Chrome,
    w: &'static Words,
    account: AccountId,
    accepted: Option<&'a str>,
    version: &'a str,
    agreement_text: &'a str,
    /// The accept form's token, while the account has not accepted.
    accept_csrf: Option<&'a str>,
    active: bool,
}

/// The account id of the path's last segment; anything else is no page.
pub fn account_id(segment: &str) -> Result<AccountId> {
    segment
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && segment.len() <= 19)
        .map(AccountId)
        .ok_or_else(|| Error::not_found("no such account"))
}

impl Portal {
    /// GET shows the account's version and the agreement; POST accepts
    /// the version the page showed (a newer one since is shown again).
    pub(super) async fn acme_terms(
        &self,
        s: &Session,
        ctx: &Ctx,
        id: AccountId,
        form: Option<&Form>,
    ) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let account = self.vetting.account_of_organization(org, id).await?;
        let here = format!("{}{id}", crate::core::urls::PORTAL_ACME_TERMS);
        if let Some(form) = form {
            if form.get("version") != Some(self.agreement.version.as_str()) {
                return Ok(see_other(&here));
            }
            let actor = s.customer.subject();
            self.vetting
                .accept_terms(TermsAcceptance {
                    actor: &actor,
                    organization: org,
                    account: id,
                    version: &self.agreement.version,
                    remote_address: ctx.peer,
                })
                .await?;
            return Ok(see_other(&here));
        }
        let w = words(ctx.lang);
        let version = self.agreement.version.as_str();
        let accepted = account.terms_version.as_deref();
        let active = account.status == crate::core::AccountStatus::Valid;
        let must = active && accepted != Some(version);
        pages::render(
            StatusCode::OK,
            &TermsPage {
                c: chrome(Some(s), ctx, w.title),
                w,
                account: id,
                accepted,
                version,
                agreement_text: &self.agreement.text,
                accept_csrf: must.then_some(s.csrf.as_str()),
                active,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_positive_id_names_an_account() {
        assert_eq!(account_id("42").unwrap(), AccountId(42));
        for bad in ["0", "-1", "x", "", "1e3", "99999999999999999999"] {
            assert!(account_id(bad).is_err(), "{bad:?}");
        }
    }
}
