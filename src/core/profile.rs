//! Certificate profiles by name: what an order asks for and the directory
//! offers. What a profile puts in a certificate is `ca::profile`'s.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Organization validated (BR §7.1.2.7.4): subject C, ST and/or L, O
    /// from the vetted organization.
    Ov,
    /// Extended validation (EVG §9.2): the OV subject plus
    /// businessCategory, serialNumber and jurisdiction fields; no
    /// wildcards.
    Ev,
    /// Domain validated: empty subject, names only in the SAN. Kept for
    /// tests and development.
    Dv,
}

impl Profile {
    /// The name used in the ACME directory's `meta.profiles` and in an
    /// order's `profile` field.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ov => "ov",
            Profile::Ev => "ev",
            Profile::Dv => "dv",
        }
    }

    /// Exact, case-sensitive match on [`Profile::name`]: profile names are
    /// opaque strings to ACME clients.
    pub fn parse(s: &str) -> Option<Self> {
        Self::all().iter().copied().find(|p| p.name() == s)
    }

    /// Human-readable text for the directory's `meta.profiles`.
    pub fn description(self) -> &'static str {
        match self {
            Profile::Ov => {
                "Organization validated TLS server certificate: the vetted organization's \
                 name and location (O, ST/L, C) in the subject, names in the subjectAltName, \
                 serverAuth, CA/Browser Forum policy 2.23.140.1.2.2"
            }
            Profile::Ev => {
                "Extended validation TLS server certificate: the vetted organization's name, \
                 location, registration number, business category and jurisdiction in the \
                 subject, no wildcard names, serverAuth, CA/Browser Forum policy 2.23.140.1.1"
            }
            Profile::Dv => {
                "Domain validated TLS server certificate: names in the subjectAltName only, \
                 serverAuth, CA/Browser Forum policy 2.23.140.1.2.1"
            }
        }
    }

    /// BR §7.1.2.7.12 permits wildcard dNSNames for DV and OV; EV forbids
    /// them (EVG §9.8.1).
    pub fn allows_wildcards(self) -> bool {
        match self {
            Profile::Ov | Profile::Dv => true,
            Profile::Ev => false,
        }
    }

    /// Whether the subject comes from a vetted organization, so an
    /// `ca::IssuanceRequest` must carry a vetted subject.
    pub fn requires_subject(self) -> bool {
        match self {
            Profile::Ov | Profile::Ev => true,
            Profile::Dv => false,
        }
    }

    pub fn is_ev(self) -> bool {
        self == Profile::Ev
    }

    /// Every profile this CA can issue; [`Profile::parse`] accepts exactly
    /// these. `dv` stays for tests and development: which profiles a
    /// directory offers is configuration (`acme.profiles`: `ov`
    /// and `ev` in production), not this list.
    pub fn all() -> &'static [Profile] {
        &[Profile::Ov, Profile::Ev, Profile::Dv]
    }
}
