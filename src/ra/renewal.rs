//! ACME Renewal Information (RFC 9773): when a certificate should be
//! renewed, and `replaces` in newOrder.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use time::{Duration, OffsetDateTime};

use super::{owned_by, validation_age, Ra};
use crate::core::{Account, Certificate};
use crate::error::{Error, ErrorKind, Result};
use crate::sa;

/// A suggested renewal window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// The window was moved earlier than the default (revocation, expiring
    /// vetting or domain validation), so an explanation URL applies.
    pub moved: bool,
}

/// The default window: from two thirds to five sixths of the validity, so
/// unattended renewal happens well before expiry.
pub fn default_window(not_before: OffsetDateTime, not_after: OffsetDateTime) -> RenewalWindow {
    let life = not_after - not_before;
    RenewalWindow {
        start: not_before + life * 2 / 3,
        end: not_before + life * 5 / 6,
        moved: false,
    }
}

/// Moves the window so renewal happens before `deadline` (when vetting or
/// domain validation data stops being reusable).
pub fn before_deadline(
    w: RenewalWindow,
    deadline: OffsetDateTime,
    now: OffsetDateTime,
) -> RenewalWindow {
    if deadline >= w.end {
        return w;
    }
    let end = (deadline - Duration::days(1)).max(now);
    let start = (end - Duration::days(2))
        .min(w.start)
        .max(now - Duration::hours(1))
        .min(end);
    RenewalWindow {
        start,
        end,
        moved: true,
    }
}

/// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial).
/// Returns the AKI and the serial's bytes.
fn parse_cert_id(id: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = || Error::malformed(format!("{id:?} is not an ARI certificate identifier"));
    let (aki, serial) = id.split_once('.').ok_or_else(bad)?;
    let aki = B64.decode(aki).map_err(|_| bad())?;
    let serial = B64.decode(serial).map_err(|_| bad())?;
    if aki.is_empty() || serial.is_empty() {
        return Err(bad());
    }
    Ok((aki, serial))
}

impl Ra {
    /// The certificate an ARI identifier names, if this CA issued it, and
    /// the identifier in canonical form (so two spellings of one
    /// certificate compare equal).
    async fn certificate_by_ari_id(&self, id: &str) -> Result<(Certificate, String)> {
        let (aki, serial) = parse_cert_id(id)?;
        let issuer_key_id = self
            .ca()
            .intermediate_key_id()
            .ok_or_else(|| Error::internal("the intermediate has no subject key identifier"))?;
        if aki != issuer_key_id {
            return Err(Error::not_found("this CA did not issue that certificate"));
        }
        let canonical = format!("{}.{}", B64.encode(&aki), B64.encode(&serial));
        let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
        let cert = self
            .store()
            .read(move |c| sa::certificates::by_serial(c, &hex))
            .await?
            .ok_or_else(|| Error::not_found("no certificate with that serial"))?;
        Ok((cert, canonical))
    }

    /// RFC 9773 §4.2.
    pub async fn renewal_info(&self, id: &str) -> Result<RenewalWindow> {
        let (cert, _) = self.certificate_by_ari_id(id).await?;
        let now = self.clock().now();
        if cert.revoked_at.is_some() {
            // A window in the past: renew now.
            return Ok(RenewalWindow {
                start: now - Duration::hours(2),
                end: now - Duration::hours(1),
                moved: true,
            });
        }
        let mut window = default_window(cert.not_before, cert.not_after);
        if let Some(deadline) = self.reuse_deadline(&cert, now).await? {
            window = before_deadline(window, deadline, now);
        }
        Ok(window)
    }

    /// When renewing would stop being possible without new human or domain
    /// validation: the organization's vetting expiry, or the earliest
    /// instant one of the names' validations stops counting (its
    /// authorization expires, or a shorter BR 4.2.1 reuse period makes it
    /// too old).
    async fn reuse_deadline(
        &self,
        cert: &Certificate,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>> {
        let (account, order) = (cert.account_id, cert.order_id);
        let max_age = self.cfg().vetting.max_age();
        let (vetting, authz) = self
            .store()
            .read(move |c| {
                let vetting = sa::organizations::for_account(c, account)?
                    .and_then(|o| o.vetting_expires(max_age));
                let authz = sa::orders::load(c, order)?.and_then(|o| {
                    o.authorizations
                        .iter()
                        .filter(|a| a.status(now) == crate::acme::AuthorizationStatus::Valid)
                        .map(|a| match validation_age::validated_at(a) {
                            Some(t) => a.expires_at.min(validation_age::stops_counting(t, now)),
                            None => a.expires_at,
                        })
                        .min()
                });
                Ok((vetting, authz))
            })
            .await?;
        Ok([vetting, authz].into_iter().flatten().min())
    }

    /// `replaces` in newOrder (RFC 9773 §5): the certificate must be this
    /// account's and not already replaced. Returns the identifier in
    /// canonical form, so two spellings of one certificate compare equal.
    pub(super) async fn check_replaces(&self, acct: &Account, id: &str) -> Result<String> {
        let (cert, canonical) = self.certificate_by_ari_id(id).await?;
        owned_by(cert.account_id, acct, "certificate").map_err(|_| {
            Error::unauthorized("the certificate in replaces was not issued to this account")
        })?;
        let now = self.clock().now();
        let id2 = canonical.clone();
        if self
            .store()
            .read(move |c| sa::orders::replacement_exists(c, &id2, now))
            .await?
        {
            return Err(Error::new(
                ErrorKind::AlreadyReplaced,
                "the certificate already has a replacement order",
            ));
        }
        Ok(canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let nb = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let na = nb + Duration::days(90);
        let w = default_window(nb, na);
        assert_eq!(w.start, nb + Duration::days(60));
        assert_eq!(w.end, nb + Duration::days(75));
        let now = nb + Duration::days(10);
        assert_eq!(
            before_deadline(w, na, now),
            w,
            "a late deadline changes nothing"
        );
        let moved = before_deadline(w, nb + Duration::days(40), now);
        assert!(moved.moved);
        assert_eq!(moved.end, nb + Duration::days(39));
        assert!(moved.start < moved.end && moved.start >= now - Duration::hours(1));
    }

    #[test]
    fn cert_ids() {
        let (aki, serial) = parse_cert_id("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE").unwrap();
        assert_eq!(aki.len(), 20);
        assert_eq!(serial, [0x00, 0x87, 0x65, 0x43, 0x21]);
        assert!(parse_cert_id("nodot").is_err());
        assert!(parse_cert_id(".AA").is_err());
    }
}
