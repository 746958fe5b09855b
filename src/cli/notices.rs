//! `trustgate notices sweep [--now TIME]`: the expiry notices job once,
//! as a staff member (role vet), at the current time or at `--now` (a
//! catch-up after an outage, or a test moving time; docs/mail.md).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use trustgate::app;
use trustgate::config::{Config, StaffRole};
use trustgate::core::Clock;
use trustgate::error::{Error, Result};
use trustgate::ra::notices::ExpiryNotices;
use trustgate::vetting::Vetting;

use super::identity::StaffAuth;
use super::NoticesCommand;

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: NoticesCommand) -> Result<()> {
    match cmd {
        NoticesCommand::Sweep { now } => sweep(cfg, auth, now.as_deref()).await,
    }
}

async fn sweep(cfg: Config, auth: &StaffAuth, now: Option<&str>) -> Result<()> {
    let now = match now {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|e| Error::malformed(format!("--now {t:?}: not an RFC 3339 time ({e})")))?,
        None => Clock::system().now(),
    };
    // The notices' rows keep the real time; only the job looks at `now`.
    let store = app::open_store(&cfg)?;
    let vetting = Vetting::new(store.clone(), cfg.vetting.clone());
    auth.identity(&vetting, StaffRole::Vet).await?;
    let Some(job) = ExpiryNotices::from_config(store, &cfg) else {
        return Err(Error::malformed(
            "e-mail notices are off: the configuration has no [mail] table",
        ));
    };
    let report = job.run(now).await?;
    println!(
        "{} organization(s) told their vetting ends soon, {} certificate(s) told they expire soon, at {now}",
        report.organizations, report.certificates
    );
    Ok(())
}
