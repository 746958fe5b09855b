//! One function per ACME resource: verify, call `ra`, render.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hyper::StatusCode;

use super::jws::{JwkPost, KidPost, PostRequest, RevokePost};
use super::urls::{self, Route};
use super::{render, Body, Reply, Wfe};
use crate::acme::{self, AccountRequest, ChallengeStatus, OrderStatus};
use crate::core::{AccountId, OrderId};
use crate::error::{Error, Result};
use crate::ra::revocation::{self, KeyChange, Revoker};
use crate::ra::NewAccountOutcome;

/// Seconds a client is asked to wait before polling again.
const POLL_AFTER_SECS: u64 = 1;
/// RFC 9773 §4.3: how often clients should ask again.
const RENEWAL_INFO_RETRY_SECS: u64 = 6 * 3600;

impl Wfe {
    pub(super) async fn dispatch(
        &self,
        route: Route,
        content_type: Option<&str>,
        body: &[u8],
        url: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Reply> {
        let req = PostRequest {
            content_type,
            body,
            url,
        };
        // Each resource is verified with the kind of key it takes (RFC 8555
        // §6.2): newAccount a jwk, revokeCert either, everything else kid.
        match route {
            Route::NewAccount => self.new_account(self.verify_jwk(req).await?, client).await,
            Route::RevokeCert => self.revoke_cert(self.verify_revoke(req).await?).await,
            Route::Account(id) => self.account(self.verify_kid(req).await?, id).await,
            Route::Orders(id) => self.orders(self.verify_kid(req).await?, id).await,
            Route::NewOrder => self.new_order(self.verify_kid(req).await?).await,
            Route::Order(id) => self.order(self.verify_kid(req).await?, id).await,
            Route::Finalize(id) => self.finalize(self.verify_kid(req).await?, id).await,
            Route::Authz(id) => self.authz(self.verify_kid(req).await?, id).await,
            Route::Challenge(id) => self.challenge(self.verify_kid(req).await?, id).await,
            Route::Certificate(id) => self.certificate(self.verify_kid(req).await?, id).await,
            Route::KeyChange => self.key_change(self.verify_kid(req).await?).await,
            // RFC 8555 §6.3: POST-as-GET wherever GET is allowed; the
            // answer is the GET's, once the request verified.
            Route::Directory => {
                self.verify_kid(req)
                    .await?
                    .payload()
                    .require_post_as_get()?;
                Ok(Reply::new(
                    StatusCode::OK,
                    Body::Json(self.directory.to_vec()),
                ))
            }
            Route::NewNonce => {
                self.verify_kid(req)
                    .await?
                    .payload()
                    .require_post_as_get()?;
                Ok(Reply::new(StatusCode::NO_CONTENT, Body::Empty))
            }
            Route::RenewalInfo => Err(Error::internal("GET route dispatched as POST")),
        }
    }

    /// RFC 8555 §7.3.
    async fn new_account(&self, post: JwkPost, client: Option<std::net::IpAddr>) -> Result<Reply> {
        let req: AccountRequest = post.payload().json()?;
        let outcome = self
            .ra
            .new_account(
                post.key(),
                post.raw_jwk(),
                req,
                &self.urls.abs(urls::NEW_ACCOUNT),
                client,
            )
            .await?;
        let (status, acct) = match outcome {
            NewAccountOutcome::Created(a) => (StatusCode::CREATED, a),
            NewAccountOutcome::Existing(a) => (StatusCode::OK, a),
        };
        Ok(Reply::json(status, &render::account(&self.urls, &acct))?
            .location(self.urls.account(acct.id)))
    }

    /// RFC 8555 §7.3.2 (update), §7.3.6 (deactivation); POST-as-GET reads.
    async fn account(&self, post: KidPost, id: AccountId) -> Result<Reply> {
        let acct = post.account();
        if acct.id != id {
            return Err(Error::unauthorized("the kid and the account URL differ"));
        }
        let acct = if post.payload().is_post_as_get() {
            acct.clone()
        } else {
            let req: AccountRequest = post.payload().json()?;
            self.ra.update_account(acct.clone(), req).await?
        };
        Ok(
            Reply::json(StatusCode::OK, &render::account(&self.urls, &acct))?
                .location(self.urls.account(acct.id)),
        )
    }

    /// RFC 8555 §7.1.2.1, paginated with Link rel="next".
    async fn orders(&self, post: KidPost, id: AccountId) -> Result<Reply> {
        post.payload().require_post_as_get()?;
        let acct = post.account();
        if acct.id != id {
            return Err(Error::unauthorized("the kid and the account URL differ"));
        }
        let cursor = match post.payload().url().split_once("?cursor=") {
            Some((_, c)) => Some(
                c.parse::<OrderId>()
                    .map_err(|_| Error::malformed("bad cursor"))?,
            ),
            None => None,
        };
        let (ids, next) = self.ra.orders_page(acct, cursor).await?;
        let list = acme::OrdersList {
            orders: ids.into_iter().map(|o| self.urls.order(o)).collect(),
        };
        let mut reply = Reply::json(StatusCode::OK, &list)?;
        if let Some(n) = next {
            reply = reply.link(&self.urls.orders(id, Some(n)), "next");
        }
        Ok(reply)
    }

    /// RFC 8555 §7.4.
    async fn new_order(&self, post: KidPost) -> Result<Reply> {
        let req: acme::NewOrderRequest = post.payload().json()?;
        let order = self.ra.new_order(post.account(), req).await?;
        Ok(Reply::json(
            StatusCode::CREATED,
            &render::order(&self.urls, &order, self.clock.now()),
        )?
        .location(self.urls.order(order.id)))
    }

    async fn order(&self, post: KidPost, id: OrderId) -> Result<Reply> {
        post.payload().require_post_as_get()?;
        let order = self.ra.order(post.account(), id).await?;
        self.order_reply(&order)
    }

    /// RFC 8555 §7.4: the order is returned as it stands after finalize.
    async fn finalize(&self, post: KidPost, id: OrderId) -> Result<Reply> {
        let req: acme::FinalizeRequest = post.payload().json()?;
        let csr = B64
            .decode(req.csr.trim_end_matches('='))
            .map_err(|_| Error::bad_csr("csr is not base64url DER"))?;
        let order = self.ra.finalize(post.account(), id, &csr).await?;
        self.order_reply(&order)
    }

    fn order_reply(&self, order: &crate::core::Order) -> Result<Reply> {
        let rendered = render::order(&self.urls, order, self.clock.now());
        let processing = rendered.status == OrderStatus::Processing;
        let mut reply = Reply::json(StatusCode::OK, &rendered)?.location(self.urls.order(order.id));
        if processing {
            reply = reply.retry_after(POLL_AFTER_SECS);
        }
        Ok(reply)
    }

    /// RFC 8555 §7.5 (read), §7.5.2 (deactivation).
    async fn authz(&self, post: KidPost, id: crate::core::AuthzId) -> Result<Reply> {
        let acct = post.account();
        let authz = if post.payload().is_post_as_get() {
            self.ra.authorization(acct, id).await?
        } else {
            let req: acme::AuthorizationUpdate = post.payload().json()?;
            if req.status.as_deref() != Some("deactivated") {
                return Err(Error::malformed(
                    "an authorization can only be updated to status \"deactivated\"",
                ));
            }
            self.ra.deactivate_authorization(acct, id).await?
        };
        let mut reply = Reply::json(
            StatusCode::OK,
            &render::authorization(&self.urls, &authz, self.clock.now()),
        )?;
        if authz
            .challenges
            .iter()
            .any(|c| c.status == ChallengeStatus::Processing)
        {
            reply = reply.retry_after(POLL_AFTER_SECS);
        }
        Ok(reply)
    }

    /// RFC 8555 §7.5.1: an empty JSON object answers the challenge;
    /// POST-as-GET reads it.
    async fn challenge(&self, post: KidPost, id: crate::core::ChallengeId) -> Result<Reply> {
        let acct = post.account();
        let (authz, chall) = if post.payload().is_post_as_get() {
            self.ra.challenge(acct, id).await?
        } else {
            let _: serde_json::Map<String, serde_json::Value> = post.payload().json()?;
            self.ra.respond_challenge(acct, id).await?
        };
        let mut reply = Reply::json(StatusCode::OK, &render::challenge(&self.urls, &chall))?
            .link(&self.urls.authz(authz.id), "up");
        if chall.status == ChallengeStatus::Processing {
            reply = reply.retry_after(POLL_AFTER_SECS);
        }
        Ok(reply)
    }

    /// RFC 9773 §4: unauthenticated GET.
    pub(super) async fn renewal_info(&self, path: &str) -> Result<Reply> {
        let id = path
            .strip_prefix(urls::RENEWAL_INFO)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or_default();
        let w = self.ra.renewal_info(id).await?;
        let info = acme::RenewalInfo {
            suggested_window: acme::SuggestedWindow {
                start: render::timestamp(w.start),
                end: render::timestamp(w.end),
            },
            explanation_url: w
                .moved
                .then(|| self.cfg.acme.ari_explanation_url.clone())
                .flatten(),
        };
        Ok(Reply::json(StatusCode::OK, &info)?.retry_after(RENEWAL_INFO_RETRY_SECS))
    }

    /// RFC 8555 §7.6.
    async fn revoke_cert(&self, post: RevokePost) -> Result<Reply> {
        let req: acme::RevocationRequest = post.payload().json()?;
        let der = revocation::decode_certificate(&req.certificate)?;
        let by = match &post {
            RevokePost::Account(p) => Revoker::Account(p.account()),
            RevokePost::CertificateKey(p) => Revoker::CertificateKey(p.key()),
        };
        self.ra.revoke(by, &der, req.reason).await?;
        Ok(Reply::new(StatusCode::OK, Body::Empty))
    }

    /// RFC 8555 §7.3.5. A key in use elsewhere is 409 with Location of
    /// the account that has it.
    async fn key_change(&self, post: KidPost) -> Result<Reply> {
        let acct = post.account();
        let inner: serde_json::Value = post.payload().json()?;
        let account_url = self.urls.account(acct.id);
        let changed = self
            .ra
            .change_key(acct, &inner, post.payload().url(), &account_url)
            .await?;
        match changed {
            KeyChange::Changed(acct) => Ok(Reply::json(
                StatusCode::OK,
                &render::account(&self.urls, &acct),
            )?
            .location(account_url)),
            KeyChange::KeyInUse { holder, conflict } => {
                Err(conflict.with_location(self.urls.account(holder)))
            }
        }
    }

    /// RFC 8555 §7.4.2.
    async fn certificate(&self, post: KidPost, id: crate::core::CertificateId) -> Result<Reply> {
        post.payload().require_post_as_get()?;
        let chain = self.ra.certificate_chain(post.account(), id).await?;
        Ok(Reply::new(StatusCode::OK, Body::PemChain(chain)))
    }
}
