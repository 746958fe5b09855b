//! `trustgate org`: organizations and their vetting, the same operations
//! as the admin API's (and the same roles), recorded in the audit log as
//! the authenticated staff member (`--staff`, or a token).

use std::path::Path;

use trustgate::app;
use trustgate::config::{Config, StaffRole};
use trustgate::core::OrganizationId;
use trustgate::error::{Error, Result};
use trustgate::ra::limits;
use trustgate::vetting::checks::{approval_blockers, AgeRule, Transition, VettingStatus};
use trustgate::vetting::Vetting;

use super::identity::StaffAuth;
use super::{print_json, read_json, OrgCommand};

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: OrgCommand) -> Result<()> {
    let vetting = Vetting::from_config(app::open_store(&cfg)?, &cfg);
    let v = &vetting;
    // What the admin API's route for the same operation asks.
    let role = match &cmd {
        OrgCommand::List { .. }
        | OrgCommand::Show { .. }
        | OrgCommand::Seal { .. }
        | OrgCommand::Blocked
        | OrgCommand::Audit { .. }
        | OrgCommand::Limits { file: None, .. } => None,
        OrgCommand::Create { .. } | OrgCommand::Edit { .. } | OrgCommand::Check { .. } => {
            Some(StaffRole::Vet)
        }
        _ => Some(StaffRole::Approve),
    };
    let actor = match role {
        Some(role) => auth.identity(v, role).await?.actor(),
        None => String::new(),
    };
    let actor = actor.as_str();
    match cmd {
        OrgCommand::Create { file } => create(v, actor, &file).await,
        OrgCommand::List { status } => list(v, status).await,
        OrgCommand::Show { id } => show(v, id).await,
        OrgCommand::Seal { id } => seal(v, &cfg, id).await,
        OrgCommand::Edit { id, file } => edit(v, actor, id, &file).await,
        OrgCommand::Check {
            id,
            file,
            performed_at,
        } => check(v, actor, id, &file, performed_at).await,
        OrgCommand::Approve { id, reason } => {
            transition(v, actor, id, Transition::Approve, reason).await
        }
        OrgCommand::Reject { id, reason } => {
            transition(v, actor, id, Transition::Reject, Some(reason)).await
        }
        OrgCommand::Suspend { id, reason } => {
            transition(v, actor, id, Transition::Suspend, Some(reason)).await
        }
        OrgCommand::Reinstate { id, reason } => {
            transition(v, actor, id, Transition::Reinstate, Some(reason)).await
        }
        OrgCommand::Reopen { id, reason } => {
            transition(v, actor, id, Transition::Reopen, Some(reason)).await
        }
        OrgCommand::Blocked => blocked(v).await,
        OrgCommand::Audit { id, limit } => audit(v, id, limit).await,
        OrgCommand::Limits { id, file, reason } => {
            limits(v, &cfg, actor, id, file.as_deref(), reason).await
        }
    }
}

/// Prints the new organization's id.
async fn create(vetting: &Vetting, actor: &str, file: &Path) -> Result<()> {
    let org = vetting.create(actor, read_json(file)?).await?;
    println!("{}", org.id);
    Ok(())
}

/// One line an organization: id, effective status, level, legal name.
async fn list(vetting: &Vetting, status: Option<String>) -> Result<()> {
    let status = status
        .map(|s| {
            VettingStatus::parse(&s)
                .ok_or_else(|| Error::malformed(format!("unknown status {s:?}")))
        })
        .transpose()?;
    let now = vetting.clock().now();
    for o in vetting.list(status).await? {
        println!(
            "{}\t{}\t{}\t{}",
            o.id,
            o.effective_status(now, vetting.max_age()).as_str(),
            o.data.level.as_str(),
            o.data.legal_name
        );
    }
    Ok(())
}

/// The organization, its checks and what blocks approval, as JSON.
async fn show(vetting: &Vetting, id: i64) -> Result<()> {
    let org = vetting.get(OrganizationId(id)).await?;
    let checks = vetting.checks(org.id).await?;
    let age = AgeRule {
        now: vetting.clock().now(),
        cap: vetting.max_age(),
    };
    let blockers = approval_blockers(org.data.level, &checks, org.data_changed_at, None, age);
    print_json(&serde_json::json!({
        "organization": org,
        "effective_status": org.effective_status(vetting.clock().now(), vetting.max_age()),
        "checks": checks,
        "blockers": blockers,
    }))
}

/// The seal id on the first line, then the snippet to embed.
async fn seal(vetting: &Vetting, cfg: &Config, id: i64) -> Result<()> {
    let Some(seal) = vetting.seal(OrganizationId(id)).await? else {
        return Err(Error::new(
            trustgate::error::ErrorKind::Conflict,
            format!("organization {id} has not been approved: it has no seal"),
        ));
    };
    println!("{seal}");
    println!(
        "{}",
        trustgate::publish::seal::snippet(&cfg.publish.seal_base_url(), &seal)
    );
    Ok(())
}

async fn edit(vetting: &Vetting, actor: &str, id: i64, file: &Path) -> Result<()> {
    let org = vetting
        .edit(actor, OrganizationId(id), read_json(file)?)
        .await?;
    println!(
        "organization {} updated; it is {}",
        org.id,
        org.status.as_str()
    );
    Ok(())
}

/// Records the check in `file`; `--performed-at` overrides the file's date.
async fn check(
    vetting: &Vetting,
    actor: &str,
    id: i64,
    file: &Path,
    performed_at: Option<String>,
) -> Result<()> {
    let (record, from_file) = trustgate::admin::parse_check_submission(read_json(file)?)?;
    let performed_at = match performed_at {
        Some(s) => Some(trustgate::admin::parse_rfc3339("--performed-at", &s)?),
        None => from_file,
    };
    let check = vetting
        .record_check(actor, OrganizationId(id), record, performed_at)
        .await?;
    let outcome = if check.record.passed() {
        "passed"
    } else {
        "failed"
    };
    println!(
        "recorded check {} ({}, {outcome}) for organization {id}",
        check.id,
        check.record.kind().as_str(),
    );
    Ok(())
}

async fn transition(
    vetting: &Vetting,
    actor: &str,
    id: i64,
    t: Transition,
    reason: Option<String>,
) -> Result<()> {
    let org = vetting
        .transition(actor, OrganizationId(id), t, reason)
        .await?;
    println!("organization {} is now {}", org.id, org.status.as_str());
    Ok(())
}

/// Orders the gate refused that still wait, with the refusal's condition
/// and detail (the stored refusal as is when it is not the usual JSON).
async fn blocked(vetting: &Vetting) -> Result<()> {
    let now = vetting.clock().now();
    let blocked = vetting
        .store()
        .read(move |c| trustgate::sa::organizations::blocked_orders(c, now))
        .await?;
    for (order, account, org, refusal) in blocked {
        let (condition, detail) = serde_json::from_str::<serde_json::Value>(&refusal)
            .ok()
            .map(|v| {
                (
                    v["condition"].as_str().unwrap_or("unknown").to_owned(),
                    v["detail"].as_str().unwrap_or(&refusal).to_owned(),
                )
            })
            .unwrap_or_else(|| ("unknown".into(), refusal.clone()));
        println!("order {order}\taccount {account}\torganization {org}\t{condition}\t{detail}");
    }
    Ok(())
}

/// The audit trail, newest first, optionally of one organization.
async fn audit(vetting: &Vetting, id: Option<i64>, limit: i64) -> Result<()> {
    for e in vetting.audit(id.map(OrganizationId), limit).await? {
        println!(
            "{}\t{}\t{}\t{}{}",
            e.at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            e.actor,
            e.action,
            e.subject,
            e.reason.map(|r| format!("\t{r}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Shows the organization's limits, or replaces its overrides first.
async fn limits(
    vetting: &Vetting,
    cfg: &Config,
    actor: &str,
    id: i64,
    file: Option<&Path>,
    reason: Option<String>,
) -> Result<()> {
    let org = vetting.get(OrganizationId(id)).await?.id;
    let store = vetting.store();
    let view = match file {
        None => limits::organization_limits(store, &cfg.limits, org).await?,
        Some(f) => {
            let reason = reason.unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(Error::malformed("changing limits needs --reason"));
            }
            let set = read_json(f)?;
            limits::set_organization_limits(store, &cfg.limits, actor, org, set, &reason).await?
        }
    };
    let json =
        serde_json::to_value(&view).map_err(|e| Error::internal(format!("rendering JSON: {e}")))?;
    print_json(&json)
}
