//! `trustgate eab`: External Account Binding credentials.

use trustgate::app;
use trustgate::config::{Config, StaffRole};
use trustgate::core::OrganizationId;
use trustgate::error::Result;
use trustgate::vetting::{eab, Vetting};

use super::identity::StaffAuth;
use super::EabCommand;

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: EabCommand) -> Result<()> {
    let vetting = Vetting::new(app::open_store(&cfg)?, cfg.vetting.clone());
    // As on the admin API: credentials are the vet role's.
    let actor = match &cmd {
        EabCommand::List => String::new(),
        _ => auth.identity(&vetting, StaffRole::Vet).await?.actor(),
    };
    let actor = actor.as_str();
    match cmd {
        EabCommand::Create {
            org,
            note,
            reusable,
            expires_days,
        } => {
            let options = eab::CreateOptions {
                note,
                single_use: !reusable,
                expires_in: expires_days.map(|d| time::Duration::days(d.into())),
            };
            create(&vetting, actor, OrganizationId(org), options).await
        }
        EabCommand::List => list(&vetting).await,
        EabCommand::Revoke { key_id, reason } => {
            vetting.revoke_eab(actor, &key_id, &reason).await?;
            println!("revoked {key_id}");
            Ok(())
        }
    }
}

async fn create(
    vetting: &Vetting,
    actor: &str,
    org: OrganizationId,
    options: eab::CreateOptions,
) -> Result<()> {
    let issued = vetting.create_eab(actor, org, options).await?;
    // Printed once, to stdout only; it is stored but never shown again.
    println!("key_id:   {}", issued.credential.key_id);
    println!("hmac_key: {}", issued.hmac_key);
    Ok(())
}

/// One line a credential, never its key.
async fn list(vetting: &Vetting) -> Result<()> {
    for c in vetting.list_eab(None).await? {
        let state = if c.revoked_at.is_some() {
            "revoked"
        } else if c.single_use && c.used_at.is_some() {
            "used"
        } else {
            "active"
        };
        println!(
            "{}\torganization {}\t{state}\t{}",
            c.key_id, c.organization, c.note
        );
    }
    Ok(())
}
