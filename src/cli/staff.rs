//! `trustgate staff`: staff members (one-time password, TOTP secret) and
//! their admin API tokens. The first member is added from the host (the
//! operator holds the database); every later change needs a member.

use std::io::IsTerminal;

use trustgate::app;
use trustgate::config::Config;
use trustgate::core::staff::StaffRole;
use trustgate::error::{Error, Result};
use trustgate::vetting::staff::Enrolment;
use trustgate::vetting::Vetting;

use super::identity::{self, StaffAuth};
use super::{StaffCommand, TokenCommand};

pub async fn run(cfg: Config, auth: &StaffAuth, cmd: StaffCommand) -> Result<()> {
    let vetting = Vetting::new(app::open_store(&cfg)?, cfg.vetting.clone());
    let v = &vetting;
    match cmd {
        StaffCommand::Add { name, roles } => add(v, auth, &name, &roles).await,
        StaffCommand::List => list(v).await,
        StaffCommand::Disable { name } => {
            let by = auth.identity(v, StaffRole::Approve).await?;
            let m = v.disable_staff(&by, &name).await?;
            println!(
                "disabled {} (id {}): its password and tokens no longer work",
                m.name, m.id
            );
            Ok(())
        }
        StaffCommand::Reset { name } => {
            let by = auth.identity(v, StaffRole::Approve).await?;
            show(&v.reset_staff(&by, &name).await?);
            Ok(())
        }
        StaffCommand::Password => {
            let (by, new) = auth.password_change(v).await?;
            v.change_password(&by, &new).await?;
            println!("password changed for {}", by.name);
            Ok(())
        }
        StaffCommand::Token(t) => token(v, auth, t).await,
    }
}

/// Without staff the host bootstraps the first member; after that a
/// member with the approve role adds.
async fn add(v: &Vetting, auth: &StaffAuth, name: &str, roles: &str) -> Result<()> {
    let roles = StaffRole::parse_list(roles).ok_or_else(|| {
        Error::malformed(format!(
            "--roles {roles:?}: view, vet or approve, comma-separated"
        ))
    })?;
    let empty = v.list_staff().await?.is_empty();
    let by = if empty {
        identity::record_os_user();
        None
    } else {
        Some(auth.identity(v, StaffRole::Approve).await?)
    };
    show(&v.add_staff(by.as_ref(), name, roles).await?);
    Ok(())
}

/// The one time the password and the TOTP secret are shown.
fn show(e: &Enrolment) {
    let m = &e.member;
    println!(
        "staff member {} (id {}), roles {}",
        m.name,
        m.id,
        StaffRole::join(&m.roles)
    );
    println!("one-time password: {}", e.password.expose());
    println!("TOTP secret:       {}", e.totp_secret.expose());
    println!("otpauth URI:       {}", e.otpauth_uri.expose());
    if std::io::stdout().is_terminal() {
        match qrcode::QrCode::new(e.otpauth_uri.expose().as_bytes()) {
            Ok(code) => println!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            ),
            Err(err) => eprintln!("no QR code ({err}); type the secret instead"),
        }
    }
    println!(
        "Hand these to {} in person; they are not shown again.",
        m.name
    );
}

async fn list(v: &Vetting) -> Result<()> {
    for m in v.list_staff().await? {
        let state = match (m.disabled_at, m.must_change_password) {
            (Some(_), _) => "disabled",
            (None, true) => "one-time password",
            (None, false) => "active",
        };
        println!(
            "{}\t{}\t{}\t{state}",
            m.id,
            m.name,
            StaffRole::join(&m.roles)
        );
    }
    Ok(())
}

async fn token(v: &Vetting, auth: &StaffAuth, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { name, label } => {
            let by = auth.identity(v, StaffRole::View).await?;
            let (t, secret) = v.create_token(&by, &name, &label).await?;
            // Printed once; only its hash is stored.
            println!("token id: {}", t.id);
            println!("token:    {}", secret.expose());
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            let by = auth.identity(v, StaffRole::View).await?;
            let t = v.revoke_token(&by, id).await?;
            println!("revoked token {} ({})", t.id, t.label);
            Ok(())
        }
        TokenCommand::List { name } => {
            let fmt = |t: time::OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            };
            for t in v.list_tokens(&name).await? {
                let state = t
                    .revoked_at
                    .map_or("active".to_owned(), |r| format!("revoked {}", fmt(r)));
                let used = t
                    .last_used_at
                    .map_or("never used".to_owned(), |u| format!("last used {}", fmt(u)));
                println!("{}\t{}\t{state}\t{used}", t.id, t.label);
            }
            Ok(())
        }
    }
}
