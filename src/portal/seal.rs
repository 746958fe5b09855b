//! `/seal`: the trust seal for the organization's site (docs/seal.md).
//! While its vetting is in force the page gives the HTML to embed (built
//! from `publish.seal_base_url`), a preview of the image and the link to
//! the verification page; otherwise a sentence saying why, no snippet.
//! The seal itself is made on approval, or here for an organization
//! approved before seals existed (`Vetting::seal`: one per organization).

use askama::Template;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::i18n::Lang;
use super::pages::{chrome, render, Chrome};
use super::{Ctx, Portal, Session};
use crate::core::Organization;
use crate::error::Result;
use crate::publish::seal as publish;
use crate::vetting::checks::VettingStatus;
use crate::vetting::seal::{parse_domain, Domain};

/// The words of the page.
pub struct Text {
    title: &'static str,
    intro: &'static str,
    snippet: &'static str,
    snippet_hint: &'static str,
    preview: &'static str,
    preview_for: &'static str,
    verification: &'static str,
    off: &'static str,
    pending: &'static str,
    rejected: &'static str,
    suspended: &'static str,
    expired: &'static str,
}

const JA: Text = Text {
    title: "認証シール",
    intro: "サイトに貼ると、認証局が組織を審査したことを示せます。承認が有効で、そのサイトのドメインに有効な証明書がある間だけ「認証済み」と表示されます。",
    snippet: "貼り付ける HTML",
    snippet_hint: "サイトのページにそのまま貼り付けてください。Referer を送らないサイトは、両方の URL に ?domain=www.example.jp を付けてください。",
    preview: "表示例",
    preview_for: "ドメイン",
    verification: "確認ページ",
    off: "この認証局は認証シールを提供していません。",
    pending: "組織の審査がまだ終わっていないため、認証シールはありません。審査の承認後に表示されます。",
    rejected: "組織の申請が却下されたため、認証シールはありません。",
    suspended: "組織の承認が一時停止されているため、認証シールは表示できません。",
    expired: "組織の審査の有効期限が切れたため、認証シールは表示できません。再審査を申請してください。",
};

const EN: Text = Text {
    title: "Trust seal",
    intro: "Shown on your site, the seal says the CA vetted your organization. It says verified only while the approval is in force and the site's domain has a valid certificate.",
    snippet: "HTML to embed",
    snippet_hint: "Paste it into your site's pages as it is. A site that sends no Referer adds ?domain=www.example.jp to both URLs.",
    preview: "Preview",
    preview_for: "domain",
    verification: "Verification page",
    off: "This CA does not offer trust seals.",
    pending: "Your organization has no trust seal yet: its vetting is not finished. It appears here once approved.",
    rejected: "Your organization has no trust seal: its application was rejected.",
    suspended: "The trust seal is not available: your organization's approval is suspended.",
    expired: "The trust seal is not available: your organization's vetting has expired. Apply for renewal.",
};

fn text(l: Lang) -> &'static Text {
    match l {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// What an approved organization's page shows.
struct Embed {
    snippet: String,
    page_url: String,
    /// The image as a `data:` URL (the CSP loads images from here only).
    preview: String,
    domain: String,
}

#[derive(Template)]
#[template(path = "portal/seal.html")]
struct SealPage {
    c: Chrome,
    w: &'static Text,
    embed: Option<Embed>,
    /// Why there is no snippet (shown only without one).
    why: &'static str,
}

impl Portal {
    /// GET `/seal`.
    pub(super) async fn seal_page(&self, s: &Session, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let w = text(ctx.lang);
        let org = self.vetting.get(s.organization()?).await?;
        let now = self.vetting.clock().now();
        let status = org.effective_status(now, self.vetting.max_age());
        let (embed, why) = match (&self.seal_base, status) {
            (None, _) => (None, w.off),
            (Some(base), VettingStatus::Approved) => {
                (self.embed(&org, base, ctx.lang).await?, w.pending)
            }
            (_, VettingStatus::Pending) => (None, w.pending),
            (_, VettingStatus::Rejected) => (None, w.rejected),
            (_, VettingStatus::Suspended) => (None, w.suspended),
            (_, VettingStatus::Expired) => (None, w.expired),
        };
        let page = SealPage {
            c: chrome(Some(s), ctx, w.title),
            w,
            embed,
            why,
        };
        render(StatusCode::OK, &page)
    }

    /// The snippet and preview of `org`'s seal, made now if it has none.
    async fn embed(&self, org: &Organization, base: &str, lang: Lang) -> Result<Option<Embed>> {
        let Some(id) = self.vetting.seal(org.id).await? else {
            return Ok(None);
        };
        // The preview shows the seal as the organization's first domain
        // would: verified only with a valid certificate for it.
        let name = org.data.domains.first().map(|d| d.name.clone());
        let domain = parse_domain(name.as_deref().unwrap_or_default());
        let shown = match &domain {
            Domain::Name(n) => n.as_str().to_owned(),
            _ => String::new(),
        };
        let Some(report) = self.vetting.seals().report(&id, domain).await? else {
            return Ok(None);
        };
        let seal_lang = match lang {
            Lang::Ja => publish::Lang::Ja,
            Lang::En => publish::Lang::En,
        };
        let svg = publish::svg(&report, seal_lang)?;
        let data = base64::engine::general_purpose::STANDARD.encode(svg);
        Ok(Some(Embed {
            snippet: publish::snippet(base, &id),
            page_url: format!("{base}/seal/{id}"),
            preview: format!("data:image/svg+xml;base64,{data}"),
            domain: shown,
        }))
    }
}
