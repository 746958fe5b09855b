//! The certificate pages of the portal: the organization's EAB
//! credentials (`/eab`), its certificates and their downloads
//! (`/certificates`), and certificate requests without an ACME client
//! (`/orders`). Every page loads through the session's organization;
//! another organization's credential, certificate or request is the
//! portal's 404. Decisions are `ra::portal_orders`' and `vetting::eab`'s.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};

use super::pages::{chrome, message, render, Chrome};
use super::{Ctx, Form, Portal, Session};
use crate::core::Organization;
use crate::error::{Error, Result};
use crate::ra::portal_orders::Download;
use crate::ra::Ra;

/// The endpoint names of these pages (the metrics' labels).
pub const ENDPOINTS: &[&str] = &[
    "/certificates",
    "/certificates/{serial}",
    "/certificates/{serial}.{format}",
    "/eab",
    "/eab/{key_id}/revoke",
    "/orders/new",
    "/orders/{id}",
    "/orders/{id}/check",
    "/orders/{id}/repeat",
];

/// A page of this part, with what its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertsPage {
    Certificates,
    Certificate(String),
    File(String, Download),
    Eab,
    EabRevoke(String),
    OrderNew,
    Order(i64),
    OrderCheck(i64),
    OrderRepeat(i64),
}

/// The page of `path`'s segments, if it is one of this part's.
pub fn route(method: &Method, segs: &[&str]) -> Option<(&'static str, CertsPage)> {
    use CertsPage as P;
    let (get, post) = (method == Method::GET, method == Method::POST);
    let id = |s: &str| s.parse::<i64>().ok().filter(|i| *i > 0);
    Some(match segs {
        ["certificates"] if get => (ENDPOINTS[0], P::Certificates),
        ["certificates", s] if get => match file_of(s) {
            Some((serial, f)) => (ENDPOINTS[2], P::File(serial.to_owned(), f)),
            None => (ENDPOINTS[1], P::Certificate((*s).to_owned())),
        },
        ["eab"] if get || post => (ENDPOINTS[3], P::Eab),
        ["eab", k, "revoke"] if get || post => (ENDPOINTS[4], P::EabRevoke((*k).to_owned())),
        ["orders", "new"] if get || post => (ENDPOINTS[5], P::OrderNew),
        ["orders", i] if get => (ENDPOINTS[6], P::Order(id(i)?)),
        ["orders", i, "check"] if post => (ENDPOINTS[7], P::OrderCheck(id(i)?)),
        ["orders", i, "repeat"] if post => (ENDPOINTS[8], P::OrderRepeat(id(i)?)),
        _ => return None,
    })
}

/// `0a1b….pem` → ("0a1b…", PemChain).
fn file_of(s: &str) -> Option<(&str, Download)> {
    let (serial, ext) = s.rsplit_once('.')?;
    let f = match ext {
        "pem" => Download::PemChain,
        "der" | "cer" => Download::Der,
        "p7b" => Download::Pkcs7,
        _ => return None,
    };
    Some((serial, f))
}

/// What every page of this part works with.
pub(super) struct Here<'a> {
    pub portal: &'a Portal,
    pub ra: &'a Ra,
    pub s: &'a Session,
    pub ctx: &'a Ctx,
    /// The session's organization, loaded.
    pub org: Organization,
}

impl Here<'_> {
    pub fn chrome(&self, title: &str) -> Chrome {
        chrome(Some(self.s), self.ctx, title)
    }

    pub fn t(&self) -> &'static super::certs_text::CertsText {
        super::certs_text::text(self.ctx.lang)
    }

    /// The customer as the audit trail names them.
    pub fn actor(&self) -> String {
        self.s.customer.subject()
    }

    pub fn refused(&self, status: StatusCode, text: &str) -> Result<Response<Full<Bytes>>> {
        message(Some(self.s), self.ctx, status, text)
    }
}

impl Portal {
    /// Answers a page of this part for a signed-in customer.
    pub(super) async fn certs(
        &self,
        page: CertsPage,
        post: bool,
        s: &Session,
        form: &Form,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let ra = self
            .ra
            .as_ref()
            .ok_or_else(|| Error::internal("the portal has no RA attached"))?;
        let org_id = s.organization()?;
        let org = self.vetting.get(org_id).await?;
        let h = Here {
            portal: self,
            ra,
            s,
            ctx,
            org,
        };
        use CertsPage as P;
        match page {
            P::Certificates => h.certificates().await,
            P::Certificate(serial) => h.certificate(&serial).await,
            P::File(serial, f) => h.download(&serial, f).await,
            P::Eab if post => h.create_eab(form).await,
            P::Eab => h.eab_page(None).await,
            P::EabRevoke(k) if post => h.revoke_eab(&k).await,
            P::EabRevoke(k) => h.revoke_page(&k).await,
            P::OrderNew if post => h.place_order(form).await,
            P::OrderNew => {
                h.order_form(StatusCode::OK, &super::orders::Posted::default())
                    .await
            }
            P::Order(id) => h.order_page(id, StatusCode::OK, None).await,
            P::OrderCheck(id) => h.check_order(id, form).await,
            P::OrderRepeat(id) => h.repeat_order(id).await,
        }
    }
}

/// The directory URL of the ACME server, for the clients' command lines.
pub fn directory(cfg: &crate::config::Config) -> String {
    format!("{}{}", cfg.base_url(), crate::core::urls::DIRECTORY)
}

/// Renders `page` with status 200.
pub fn ok<T: askama::Template>(page: &T) -> Result<Response<Full<Bytes>>> {
    render(StatusCode::OK, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_pages_are_routed_by_method_and_path() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            route(&get, &["certificates"]).map(|r| r.1),
            Some(CertsPage::Certificates)
        );
        assert_eq!(
            route(&get, &["certificates", "0a1b.p7b"]).map(|r| r.1),
            Some(CertsPage::File("0a1b".into(), Download::Pkcs7))
        );
        assert_eq!(
            route(&get, &["certificates", "0a1b"]).map(|r| r.1),
            Some(CertsPage::Certificate("0a1b".into()))
        );
        assert_eq!(
            route(&get, &["orders", "7"]).map(|r| r.1),
            Some(CertsPage::Order(7))
        );
        assert_eq!(route(&get, &["orders", "x"]), None);
        assert_eq!(route(&get, &["orders", "-1"]), None);
        assert_eq!(
            route(&get, &["orders", "7", "check"]),
            None,
            "a check is a POST"
        );
        assert_eq!(
            route(&post, &["orders", "7", "check"]).map(|r| r.1),
            Some(CertsPage::OrderCheck(7))
        );
        assert_eq!(route(&post, &["certificates"]), None);
    }
}
