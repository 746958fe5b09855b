//! E-mail: the notices' texts (`notices`, from the askama templates in
//! `templates/mail/`) and the SMTP sender (`smtp`, lettre). A leaf like
//! `va` and `ca`: it neither stores nor decides. `ra` writes notices into
//! the outbox (`sa::outbox`) in the transaction of the event they
//! report; `app::mail` leases them and sends them through `smtp`.

pub mod applications;
pub mod notices;
pub mod smtp;
pub mod vetting;

pub use notices::{Language, Rendered};
pub use smtp::{Mailer, SendError};

/// The e-mail address of an ACME contact URL (RFC 8555 §7.3: `mailto:`
/// only), if it is one a message can be sent to.
pub fn mailto_address(contact: &str) -> Option<String> {
    let addr = contact.strip_prefix("mailto:")?;
    let addr = percent_encoding::percent_decode_str(addr)
        .decode_utf8()
        .ok()?;
    is_address(&addr).then(|| addr.into_owned())
}

/// Whether `addr` is a single address lettre can send to.
pub fn is_address(addr: &str) -> bool {
    addr.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailto_contacts_become_addresses() {
        assert_eq!(
            mailto_address("mailto:ops@example.jp").as_deref(),
            Some("ops@example.jp")
        );
        assert_eq!(
            mailto_address("mailto:ops%2Bca@example.jp").as_deref(),
            Some("ops+ca@example.jp")
        );
        assert_eq!(mailto_address("tel:+81-3-0000-0000"), None);
        assert_eq!(mailto_address("mailto:not an address"), None);
        assert_eq!(mailto_address("mailto:a@b.jp,c@d.jp"), None);
    }
}
