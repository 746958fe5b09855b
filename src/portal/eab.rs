//! `/eab`: the organization's EAB credentials for its ACME clients —
//! made once the organization is approved, the HMAC key shown once with
//! the certbot and lego command lines, listed, revoked after a
//! confirmation that names the accounts it deactivates.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::certs::{ok, Here};
use super::certs_text::day;
use super::pages::{render, Chrome};
use super::Form;
use crate::core::EabCredential;
use crate::error::{ErrorKind, Result};
use crate::http::page::{field, see_other};

/// One credential as the list shows it.
pub struct Row {
    pub key_id: String,
    pub note: String,
    pub created: String,
    pub use_by: String,
    pub state: &'static str,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "portal/eab.html")]
struct EabPage {
    c: Chrome,
    csrf: String,
    may_create: bool,
    rows: Vec<Row>,
    notice: Option<&'static str>,
    note: String,
    note_error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/eab_created.html")]
struct CreatedPage {
    c: Chrome,
    key_id: String,
    hmac_key: String,
    certbot: String,
    lego: String,
}

#[derive(Template)]
#[template(path = "portal/eab_revoke.html")]
struct RevokePage {
    c: Chrome,
    csrf: String,
    key_id: String,
    note: String,
    accounts: Vec<i64>,
}

impl Here<'_> {
    /// The list and the creation form (`note_error`: the form came back
    /// refused).
    pub async fn eab_page(
        &self,
        refused: Option<(String, String)>,
    ) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let creds = self.portal.vetting.customer_eab(self.org.id).await?;
        let now = self.ra.clock().now();
        let rows = creds.iter().map(|c| self.row(c, now)).collect();
        let notice = (field(&self.ctx.query, "revoked") == Some("1")).then_some(t.revoked_notice);
        let status = if refused.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let (note, note_error) = match refused {
            Some((note, e)) => (note, Some(e)),
            None => (String::new(), None),
        };
        let page = EabPage {
            c: self.chrome(t.eab_title),
            csrf: self.s.csrf.clone(),
            may_create: self.ra.portal_may_order(&self.org),
            rows,
            notice,
            note,
            note_error,
        };
        render(status, &page)
    }

    fn row(&self, c: &EabCredential, now: time::OffsetDateTime) -> Row {
        let t = self.t();
        let state = if c.revoked_at.is_some() {
            t.eab_revoked
        } else if c.used_at.is_some() {
            t.eab_used
        } else if c.expires_at.is_some_and(|e| e <= now) {
            t.eab_expired
        } else {
            t.eab_unused
        };
        Row {
            key_id: c.key_id.clone(),
            note: c.note.clone(),
            created: day(c.created_at),
            use_by: c.expires_at.map(day).unwrap_or_default(),
            state,
            revocable: c.revoked_at.is_none(),
        }
    }

    /// POST `/eab`: a new credential, its key on this answer only.
    pub async fn create_eab(&self, form: &Form) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let note = form.get("note").unwrap_or_default().to_owned();
        let issued = match self
            .portal
            .vetting
            .create_customer_eab(&self.actor(), self.org.id, &note)
            .await
        {
            Ok(i) => i,
            Err(e) if e.kind == ErrorKind::Malformed => {
                return self.eab_page(Some((note, note_too_long(self.ctx)))).await
            }
            Err(e) if e.kind == ErrorKind::Unauthorized => {
                return self.refused(StatusCode::FORBIDDEN, t.after_approval)
            }
            Err(e) => return Err(e),
        };
        let directory = &self.portal.directory;
        let kid = issued.credential.key_id.clone();
        let key = issued.hmac_key;
        let domain = self.example_name();
        let email = &self.s.customer.email;
        // `=` before the key: a base64url key may begin with `-`.
        let certbot = format!(
            "certbot certonly --server {directory} --eab-kid {kid} --eab-hmac-key={key} --agree-tos -m {email} -d {domain}"
        );
        let lego = format!(
            "lego --server {directory} --eab --kid {kid} --hmac={key} --accept-tos --email {email} --domains {domain} --http run"
        );
        ok(&CreatedPage {
            c: self.chrome(t.eab_created_title),
            key_id: kid,
            hmac_key: key,
            certbot,
            lego,
        })
    }

    /// A name of the organization's scope for the example command lines.
    fn example_name(&self) -> String {
        match self.org.data.domains.first() {
            Some(d) if d.exact => d.name.to_string(),
            Some(d) => format!("www.{}", d.name),
            None => "www.example.jp".into(),
        }
    }

    /// GET `/eab/{key_id}/revoke`: what revoking would do.
    pub async fn revoke_page(&self, key_id: &str) -> Result<Response<Full<Bytes>>> {
        let (cred, bound) = self
            .portal
            .vetting
            .customer_revocation_preview(self.org.id, key_id)
            .await?;
        ok(&RevokePage {
            c: self.chrome(self.t().revoke_title),
            csrf: self.s.csrf.clone(),
            key_id: cred.key_id,
            note: cred.note,
            accounts: bound.iter().map(|a| a.0).collect(),
        })
    }

    /// POST `/eab/{key_id}/revoke`.
    pub async fn revoke_eab(&self, key_id: &str) -> Result<Response<Full<Bytes>>> {
        let revoked = self
            .portal
            .vetting
            .revoke_customer_eab(
                &self.actor(),
                self.org.id,
                key_id,
                "revoked by the customer in the portal",
            )
            .await;
        match revoked {
            // Already revoked (a second tab): the list says so.
            Ok(()) => Ok(see_other("/eab?revoked=1")),
            Err(e) if e.kind == ErrorKind::Conflict => Ok(see_other("/eab")),
            Err(e) => Err(e),
        }
    }
}

fn note_too_long(ctx: &super::Ctx) -> String {
    let n = crate::vetting::eab::MAX_NOTE_CHARS;
    match ctx.lang {
        super::i18n::Lang::Ja => format!("{n} 文字以内で入力してください。"),
        super::i18n::Lang::En => format!("Use at most {n} characters."),
    }
}
