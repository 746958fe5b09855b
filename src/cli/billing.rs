//! `trustgate billing run [--now TIME]`: the invoice job once, as a staff
//! member (role approve), at the current time or at `--now` (a catch-up
//! after an outage, or a test moving time; docs/invoices.md).

use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use trustgate::app;
use trustgate::billing::Billing;
use trustgate::config::{Config, StaffRole};
use trustgate::core::Clock;
use trustgate::error::{Error, Result};
use trustgate::vetting::Vetting;

use super::identity::StaffAuth;
use super::BillingCommand;

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: BillingCommand) -> Result<()> {
    match cmd {
        BillingCommand::Run { now } => run_job(cfg, auth, now.as_deref()).await,
    }
}

async fn run_job(cfg: Config, auth: &StaffAuth, now: Option<&str>) -> Result<()> {
    let now = match now {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|e| Error::malformed(format!("--now {t:?}: not an RFC 3339 time ({e})")))?,
        None => Clock::system().now(),
    };
    // The store and the e-mails keep the real time; only the job runs at
    // `now` (its cutoff, the invoices' date).
    let clock = Clock::system();
    let store = app::open_store_with_clock(&cfg, clock.clone())?;
    let vetting = Vetting::new(store.clone(), cfg.vetting.clone());
    let actor = auth.identity(&vetting, StaffRole::Approve).await?.actor();
    let Some(billing) = Billing::from_config(Arc::new(cfg), store, clock)? else {
        return Err(Error::malformed(
            "billing is off: the configuration has no [billing] table",
        ));
    };
    let report = billing.run(now, &actor).await?;
    println!(
        "{} invoice(s) issued at {now} ({} more than 10 days after issuance)",
        report.invoiced, report.late
    );
    if report.failed > 0 {
        return Err(Error::internal(format!(
            "{} certificate(s) could not be invoiced (see the log)",
            report.failed
        )));
    }
    Ok(())
}
