//! `trustgate account`: staff actions on ACME accounts.

use trustgate::app;
use trustgate::config::{Config, StaffRole};
use trustgate::error::Result;
use trustgate::vetting::Vetting;

use super::identity::StaffAuth;
use super::AccountCommand;

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: AccountCommand) -> Result<()> {
    match cmd {
        AccountCommand::Deactivate { id, reason } => {
            let vetting = Vetting::new(app::open_store(&cfg)?, cfg.vetting.clone());
            let actor = auth.identity(&vetting, StaffRole::Vet).await?.actor();
            vetting.deactivate_account(&actor, id, &reason).await?;
            println!("deactivated account {id}");
            Ok(())
        }
    }
}
