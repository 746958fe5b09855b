//! The SMTP sender: one message per call over a fresh connection to the
//! configured relay (STARTTLS, implicit TLS, or plain for a relay on the
//! same host), with optional authentication. Every call is bounded by
//! `mail.send_timeout_secs`; each command by `mail.connect_timeout_secs`.

use std::path::Path;
use std::time::Duration;

use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailSecurity};
use crate::error::{Error, Result};

/// Sends notices through the configured relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain part of Message-IDs.
    domain: String,
    relay: String,
    send_timeout: Duration,
}

/// Names the relay only: the transport holds the credentials.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// A file to attach.
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    pub name: &'a str,
    /// e.g. `application/pdf`.
    pub content_type: &'a str,
    pub content: &'a [u8],
}

/// Why a message was not sent: whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// A 5xx answer or an address that cannot be sent to: it will not
    /// change by itself.
    Permanent(String),
    /// Connection refused, a timeout, a 4xx answer, a TLS failure …
    Transient(String),
}

impl SendError {
    pub fn detail(&self) -> &str {
        match self {
            SendError::Permanent(d) | SendError::Transient(d) => d,
        }
    }
}

impl Mailer {
    /// The relay of `cfg`; `hello` is the EHLO name unless the config
    /// names one. Paths in the config are resolved with `path`.
    pub fn from_config(
        cfg: &MailConfig,
        hello: &str,
        path: impl Fn(&Path) -> std::path::PathBuf,
    ) -> Result<Mailer> {
        cfg.validate()?;
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| Error::internal(format!("mail.from {:?}: {e}", cfg.from)))?;
        let hello = cfg.hello_name.clone().unwrap_or_else(|| hello.to_owned());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host)
            .port(cfg.port())
            .tls(tls(cfg, &path)?)
            .timeout(Some(Duration::from_secs(cfg.connect_timeout_secs)))
            .hello_name(ClientId::Domain(hello.clone()));
        if let (Some(user), Some(file)) = (&cfg.username, &cfg.password_file) {
            builder =
                builder.credentials(Credentials::new(user.clone(), read_password(&path(file))?));
        }
        Ok(Mailer {
            transport: builder.build(),
            domain: from.email.domain().to_owned(),
            from,
            relay: format!("{}:{}", cfg.smtp_host, cfg.port()),
            send_timeout: Duration::from_secs(cfg.send_timeout_secs),
        })
    }

    /// Sends one plain-text message to `to`. `id` makes its Message-ID, so
    /// a notice sent again after an unanswered attempt can be recognized
    /// as the same message.
    pub async fn send(
        &self,
        id: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> std::result::Result<(), SendError> {
        self.send_with(id, to, subject, body, &[]).await
    }

    /// `send` with files: then the message is multipart/mixed, the text
    /// first, each file after it.
    pub async fn send_with(
        &self,
        id: &str,
        to: &str,
        subject: &str,
        body: &str,
        files: &[File<'_>],
    ) -> std::result::Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {to:?}: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{id}@{}>", self.domain)));
        let built = if files.is_empty() {
            builder
                .header(ContentType::TEXT_PLAIN)
                .body(body.to_owned())
        } else {
            builder.multipart(mixed(body, files)?)
        };
        let message =
            built.map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        match tokio::time::timeout(self.send_timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
            Err(_) => Err(SendError::Transient(format!(
                "no answer from {} within {:?}",
                self.relay, self.send_timeout
            ))),
        }
    }
}

/// The text, then each file as an attachment.
fn mixed(body: &str, files: &[File<'_>]) -> std::result::Result<MultiPart, SendError> {
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body.to_owned()));
    for f in files {
        let kind = ContentType::parse(f.content_type).map_err(|e| {
            SendError::Permanent(format!("attachment type {:?}: {e}", f.content_type))
        })?;
        parts = parts.singlepart(Attachment::new(f.name.to_owned()).body(f.content.to_vec(), kind));
    }
    Ok(parts)
}

/// The TLS mode of `cfg`, trusting the system's roots and `ca_file`.
fn tls(cfg: &MailConfig, path: &impl Fn(&Path) -> std::path::PathBuf) -> Result<Tls> {
    if cfg.security == MailSecurity::Plain {
        return Ok(Tls::None);
    }
    let mut params = TlsParameters::builder(cfg.smtp_host.clone());
    if let Some(file) = &cfg.ca_file {
        let file = path(file);
        let pem = std::fs::read(&file).map_err(|e| {
            Error::internal(format!("reading mail.ca_file {}: {e}", file.display()))
        })?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| Error::internal(format!("mail.ca_file {}: {e}", file.display())))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .map_err(|e| Error::internal(format!("mail TLS settings: {e}")))?;
    Ok(match cfg.security {
        MailSecurity::Tls => Tls::Wrapper(params),
        _ => Tls::Required(params),
    })
}

/// The first line of the password file.
fn read_password(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::internal(format!(
            "reading mail.password_file {}: {e}",
            file.display()
        ))
    })?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(Error::internal(format!(
            "mail.password_file {} is empty",
            file.display()
        )));
    }
    Ok(password)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(extra: &str) -> MailConfig {
        let text = format!(
            "[mail]\nsmtp_host = \"smtp.example.jp\"\nfrom = \"CA <ca@example.jp>\"\n{extra}"
        );
        crate::config::Config::parse(&text).unwrap().mail.unwrap()
    }

    /// The password is read from its file and shown nowhere: not in the
    /// config's Debug (it holds only the path), not in the mailer's.
    #[test]
    fn the_password_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("smtp-password");
        std::fs::write(&file, "s3cret-Pa55\n").unwrap();
        let cfg = config(&format!(
            "username = \"ca\"\npassword_file = \"{}\"\n",
            file.display()
        ));
        let mailer = Mailer::from_config(&cfg, "ca.example.jp", |p| p.to_path_buf()).unwrap();
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("smtp.example.jp:587"), "{shown}");
    }

    /// Settings that would send the password in clear, or half of a
    /// login, are refused at startup.
    #[test]
    fn unsafe_or_incomplete_settings_are_refused() {
        let plain = config("security = \"plain\"\nusername = \"ca\"\npassword_file = \"/p\"\n");
        let err = Mailer::from_config(&plain, "h", |p| p.to_path_buf()).unwrap_err();
        assert!(err.detail.contains("in clear"), "{}", err.detail);
        let half = config("username = \"ca\"\n");
        assert!(Mailer::from_config(&half, "h", |p| p.to_path_buf()).is_err());
        let bad_from = MailConfig {
            from: "not an address".into(),
            ..config("")
        };
        assert!(Mailer::from_config(&bad_from, "h", |p| p.to_path_buf()).is_err());
        assert_eq!(config("security = \"tls\"").port(), 465);
        assert!(crate::config::Config::parse(
            "[mail]\nsmtp_host = \"h\"\nfrom = \"a@b.jp\"\npasword = \"x\"\n"
        )
        .is_err());
    }

    /// The commented `[mail]` table of the example config parses, and
    /// its values are the defaults.
    #[test]
    fn the_example_mail_table_parses_with_the_defaults() {
        let example = include_str!("../../conf/trustgate.example.toml");
        let table: String = example
            .split("# [mail]")
            .nth(1)
            .unwrap()
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let mail = crate::config::Config::parse(&format!("[mail]{table}"))
            .unwrap()
            .mail
            .unwrap();
        let defaults = config("");
        assert_eq!(mail.port(), defaults.port());
        assert_eq!(mail.security, defaults.security);
        assert_eq!(
            (
                mail.connect_timeout_secs,
                mail.send_timeout_secs,
                mail.poll_secs,
                mail.batch
            ),
            (
                defaults.connect_timeout_secs,
                defaults.send_timeout_secs,
                defaults.poll_secs,
                defaults.batch
            )
        );
        assert_eq!(
            (mail.retry_base_secs, mail.retry_cap_secs, mail.max_attempts),
            (
                defaults.retry_base_secs,
                defaults.retry_cap_secs,
                defaults.max_attempts
            )
        );
        mail.validate().unwrap();
    }
}
