//! `trustgate cert`: staff actions on issued certificates.

use trustgate::app;
use trustgate::config::{Config, StaffRole};
use trustgate::core::RevocationReason;
use trustgate::error::{Error, Result};

use trustgate::vetting::Vetting;

use super::identity::StaffAuth;
use super::CertCommand;

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: CertCommand) -> Result<()> {
    match cmd {
        CertCommand::Revoke {
            serial,
            code,
            reason,
        } => revoke(cfg, auth, &serial, &code, &reason).await,
    }
}

/// Any RFC 5280 reason (privilegeWithdrawn included), recorded with
/// `reason` in the audit log.
async fn revoke(
    cfg: Config,
    auth: &StaffAuth,
    serial: &str,
    code: &str,
    reason: &str,
) -> Result<()> {
    let code = RevocationReason::from_name(code)
        .ok_or_else(|| Error::malformed(format!("unknown reason code {code:?}")))?;
    let store = app::open_store(&cfg)?;
    // As on the admin API: revocation needs the approve role.
    let vetting = Vetting::new(store.clone(), cfg.vetting.clone());
    let actor = auth.identity(&vetting, StaffRole::Approve).await?.actor();
    trustgate::ra::revocation::revoke_by_staff(&store, &actor, serial, code, reason).await?;
    println!("revoked {serial}");
    Ok(())
}
