//! Who a state-changing CLI command acts as: a staff member authenticated
//! like on the console (password and TOTP code) or by an API token, never
//! a typed name. The audit log records the identity and, for the CLI, the
//! operating-system user.

use std::io::{BufRead, IsTerminal};

use trustgate::core::staff::{self, StaffIdentity, StaffRole};
use trustgate::error::{Error, Result};
use trustgate::vetting::Vetting;

/// An API token (instead of a password and a code).
const ENV_TOKEN: &str = "TRUSTGATE_STAFF_TOKEN";
/// For scripts and tests; a person types them at the prompt.
const ENV_PASSWORD: &str = "TRUSTGATE_STAFF_PASSWORD";
const ENV_TOTP: &str = "TRUSTGATE_STAFF_TOTP";
const ENV_NEW_PASSWORD: &str = "TRUSTGATE_STAFF_NEW_PASSWORD";

#[derive(clap::Args, Clone)]
pub struct StaffAuth {
    /// The staff member acting; the password and the current TOTP code
    /// are read from the terminal (or TRUSTGATE_STAFF_PASSWORD and
    /// TRUSTGATE_STAFF_TOTP). With TRUSTGATE_STAFF_TOKEN set, the token
    /// identifies the member instead.
    #[arg(long, global = true, env = "TRUSTGATE_STAFF", value_name = "NAME")]
    pub staff: Option<String>,
}

/// The operating-system user at the terminal (the one who ran sudo, if
/// any).
pub fn os_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// From here on every audit event this process writes names the OS user.
pub fn record_os_user() {
    staff::set_os_user(os_user());
}

impl StaffAuth {
    /// The authenticated member, who must hold `role`.
    pub async fn identity(&self, vetting: &Vetting, role: StaffRole) -> Result<StaffIdentity> {
        record_os_user();
        let who = self.authenticate(vetting).await?;
        if !who.may(role) {
            return Err(Error::unauthorized(format!(
                "{} does not have the {} role",
                who.name,
                role.as_str()
            )));
        }
        Ok(who)
    }

    /// The member by password and TOTP code only (a token is not enough
    /// to change the password), and the new password.
    pub async fn password_change(&self, vetting: &Vetting) -> Result<(StaffIdentity, String)> {
        record_os_user();
        let name = self.staff.as_deref().ok_or_else(|| {
            Error::unauthorized("changing a password needs --staff NAME and the current password")
        })?;
        let who = self.login(vetting, name).await?;
        let new = secret(
            ENV_NEW_PASSWORD,
            "new password (12 characters or more): ",
            true,
        )?;
        Ok((who, new))
    }

    async fn login(&self, vetting: &Vetting, name: &str) -> Result<StaffIdentity> {
        let password = secret(ENV_PASSWORD, &format!("password for {name}: "), true)?;
        let code = secret(ENV_TOTP, "TOTP code: ", false)?;
        vetting.login(name, &password, &code).await
    }

    async fn authenticate(&self, vetting: &Vetting) -> Result<StaffIdentity> {
        if let Some(token) = std::env::var(ENV_TOKEN).ok().filter(|t| !t.is_empty()) {
            let who = match vetting.authenticate_token(token.trim()).await? {
                trustgate::vetting::staff::TokenCheck::Valid(who) => who,
                trustgate::vetting::staff::TokenCheck::Refused(why) => {
                    return Err(Error::unauthorized(format!("{ENV_TOKEN}: {why}")))
                }
            };
            if self.staff.as_deref().is_some_and(|n| n != who.name) {
                return Err(Error::unauthorized(format!(
                    "{ENV_TOKEN} belongs to {:?}, not to --staff",
                    who.name
                )));
            }
            return Ok(who);
        }
        let name = self.staff.as_deref().ok_or_else(|| {
            Error::unauthorized(format!(
                "this command changes the CA: name the staff member acting (--staff NAME) or set {ENV_TOKEN}"
            ))
        })?;
        self.login(vetting, name).await
    }
}

/// From the environment, else the terminal (without echo for a
/// password), else a line of standard input.
fn secret(env: &str, prompt: &str, hidden: bool) -> Result<String> {
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    let read = if std::io::stdin().is_terminal() {
        if hidden {
            rpassword::prompt_password(prompt)
        } else {
            eprint!("{prompt}");
            read_line()
        }
    } else {
        read_line()
    };
    read.map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|e| {
            Error::malformed(format!(
                "reading {}: {e}",
                prompt.trim_end_matches([':', ' '])
            ))
        })
}

fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}
