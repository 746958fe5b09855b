//! The organization page's applications from the customer portal: each
//! with its history and the documents uploaded for it (downloaded as
//! attachments, never rendered), the form that asks the customer for
//! documents, and the renewal decision when a renewal is open.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::i18n::Lang;
use super::pages::{date, message, Views};
use super::web::{self, see_other};
use crate::core::application::{Application, ApplicationEvent, DocumentId, DocumentInfo};
use crate::core::OrganizationId;
use crate::error::{ErrorKind, Result};
use crate::vetting::applications::PortalLinks;
use crate::vetting::documents::DocumentType;

/// The words of this section.
pub struct AppText {
    pub applications: &'static str,
    pub kind: &'static str,
    pub submitted: &'static str,
    pub validity: &'static str,
    pub history: &'static str,
    pub documents: &'static str,
    pub file: &'static str,
    pub size: &'static str,
    pub uploaded: &'static str,
    pub request_documents: &'static str,
    pub request_hint: &'static str,
    pub message: &'static str,
    pub send: &'static str,
    pub renew: &'static str,
    pub kinds: [(&'static str, &'static str); 2],
    pub statuses: [(&'static str, &'static str); 3],
    pub events: [(&'static str, &'static str); 6],
}

impl AppText {
    fn word(list: &[(&'static str, &'static str)], k: &str) -> &'static str {
        list.iter()
            .find(|(key, _)| *key == k)
            .map_or("?", |(_, v)| v)
    }
}

pub fn text(lang: Lang) -> &'static AppText {
    match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

static JA: AppText = AppText {
    applications: "ポータルからのお申込み",
    kind: "種別",
    submitted: "受付日時",
    validity: "希望する有効期間 (日)",
    history: "経過",
    documents: "提出書類",
    file: "ファイル",
    size: "サイズ (バイト)",
    uploaded: "提出日時",
    request_documents: "書類の提出を依頼する",
    request_hint: "お客様にメールで通知し、ポータルの書類提出ページで受け付けます。",
    message: "お客様へのメッセージ",
    send: "依頼する",
    renew: "更新を承認",
    kinds: [("new", "新規"), ("renewal", "更新")],
    statuses: [
        ("open", "審査中"),
        ("approved", "承認"),
        ("rejected", "却下"),
    ],
    events: [
        ("submitted", "受付"),
        ("documents_requested", "書類の提出依頼"),
        ("documents_uploaded", "書類の提出"),
        ("approved", "承認"),
        ("rejected", "却下"),
        ("renewed", "更新のお申込み"),
    ],
};

static EN: AppText = AppText {
    applications: "Applications from the portal",
    kind: "Kind",
    submitted: "Received",
    validity: "Validity wanted (days)",
    history: "History",
    documents: "Documents",
    file: "File",
    size: "Size (bytes)",
    uploaded: "Uploaded",
    request_documents: "Request documents",
    request_hint: "The customer is told by e-mail and uploads them on the portal's documents page.",
    message: "Message to the customer",
    send: "Send request",
    renew: "Approve renewal",
    kinds: [("new", "New"), ("renewal", "Renewal")],
    statuses: [
        ("open", "Open"),
        ("approved", "Approved"),
        ("rejected", "Rejected"),
    ],
    events: [
        ("submitted", "Received"),
        ("documents_requested", "Documents requested"),
        ("documents_uploaded", "Documents uploaded"),
        ("approved", "Approved"),
        ("rejected", "Rejected"),
        ("renewed", "Renewal received"),
    ],
};

pub struct EventRow {
    pub at: String,
    pub what: &'static str,
    pub actor: String,
    pub message: String,
}

pub struct AppRow {
    pub number: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub submitted: String,
    pub validity_days: i32,
    pub events: Vec<EventRow>,
}

pub struct DocRow {
    pub href: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub by: String,
    pub at: String,
}

/// What the organization page shows of applications.
pub struct Section {
    pub a: &'static AppText,
    pub rows: Vec<AppRow>,
    pub docs: Vec<DocRow>,
    /// An application is open: documents may be requested.
    pub open: bool,
    /// An open renewal: the renewal decision is offered.
    pub renewal_open: bool,
}

impl Section {
    pub fn new(
        lang: Lang,
        org: OrganizationId,
        apps: Vec<(Application, Vec<ApplicationEvent>)>,
        docs: Vec<DocumentInfo>,
    ) -> Section {
        use crate::core::application::{ApplicationKind, ApplicationStatus};
        let a = text(lang);
        let open = apps
            .iter()
            .any(|(x, _)| x.status == ApplicationStatus::Open);
        let renewal_open = apps.iter().any(|(x, _)| {
            x.status == ApplicationStatus::Open && x.kind == ApplicationKind::Renewal
        });
        let rows = apps
            .into_iter()
            .map(|(x, events)| AppRow {
                number: x.number.to_string(),
                kind: AppText::word(&a.kinds, x.kind.as_str()),
                status: AppText::word(&a.statuses, x.status.as_str()),
                submitted: date(x.submitted_at),
                validity_days: x.validity_days,
                events: events
                    .into_iter()
                    .map(|e| EventRow {
                        at: date(e.at),
                        what: AppText::word(&a.events, e.kind.as_str()),
                        actor: e.actor,
                        message: e.message.unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        let docs = docs
            .into_iter()
            .map(|d| DocRow {
                href: format!("/console/organizations/{org}/documents/{}", d.id),
                name: d.file_name,
                content_type: d.content_type,
                size: d.size,
                sha256: d.sha256,
                by: d.uploaded_by,
                at: date(d.uploaded_at),
            })
            .collect();
        Section {
            a,
            rows,
            docs,
            open,
            renewal_open,
        }
    }
}

impl Views<'_> {
    /// The applications section of organization `org`'s page.
    pub async fn applications_section(&self, org: OrganizationId) -> Result<Section> {
        let apps = self.vetting.applications(org).await?;
        let docs = self.vetting.documents(org).await?;
        Ok(Section::new(self.ctx.lang, org, apps, docs))
    }

    /// Asks the customer for documents (role `vet`), as the member.
    pub async fn request_documents(
        &self,
        id: &str,
        form: &[(String, String)],
        links: &PortalLinks,
        limit: usize,
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(org) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_document();
        };
        let text = web::field(form, "message").unwrap_or_default();
        let result = self
            .vetting
            .request_documents(&self.s.staff.actor(), org, text, links, limit)
            .await;
        match result {
            Ok(()) => Ok(see_other(&format!(
                "/console/organizations/{org}#applications"
            ))),
            Err(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::Malformed) => {
                let status = if e.kind == ErrorKind::Conflict {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                let msg = format!("{}: {}", self.ctx.lang.text().refused, e.detail);
                self.organization(id, Some((status, msg))).await
            }
            Err(e) if e.kind == ErrorKind::NotFound => self.no_document(),
            Err(e) => Err(e),
        }
    }

    /// A document, as an attachment of its stored type (one of three
    /// inert types; anything else stored is served as octets).
    pub async fn document(&self, id: &str, doc: &str) -> Result<Response<Full<Bytes>>> {
        let (Ok(org), Ok(doc)) = (id.parse::<i64>(), doc.parse::<i64>()) else {
            return self.no_document();
        };
        let Some((info, bytes)) = self
            .vetting
            .document(OrganizationId(org), DocumentId(doc))
            .await?
        else {
            return self.no_document();
        };
        Ok(attachment(&info, bytes))
    }

    fn no_document(&self) -> Result<Response<Full<Bytes>>> {
        let t = self.ctx.lang.text();
        message(Some(self.s), self.ctx, StatusCode::NOT_FOUND, t.not_found)
    }
}

/// The file as a download: `Content-Disposition: attachment` with its
/// name (RFC 6266, the UTF-8 form beside an ASCII fallback), nosniff, and
/// only a type it may have.
pub fn attachment(info: &DocumentInfo, bytes: Vec<u8>) -> Response<Full<Bytes>> {
    let ty = DocumentType::from_content_type(&info.content_type)
        .map_or("application/octet-stream", DocumentType::content_type);
    let mut r = web::page(StatusCode::OK, ty, Bytes::from(bytes));
    let ascii: String = info
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        web::encode(&info.file_name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::application::ApplicationId;

    fn info(name: &str, ty: &str) -> DocumentInfo {
        DocumentInfo {
            id: DocumentId(1),
            application: ApplicationId(1),
            file_name: name.into(),
            content_type: ty.into(),
            size: 3,
            sha256: String::new(),
            uploaded_by: "customer:a@example.jp".into(),
            uploaded_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn documents_are_attachments_of_an_inert_type() {
        let r = attachment(&info("登記 簿.pdf", "application/pdf"), b"%PD".to_vec());
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "application/pdf");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"__ _.pdf\"; filename*=UTF-8''%E7%99%BB%E8%A8%98%20%E7%B0%BF%2Epdf"
        );
        let r = attachment(&info("x.html", "text/html"), b"<p>".to_vec());
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
    }
}
