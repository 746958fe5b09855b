// TEMPORARY stand-in matching the helper contract; replaced by wip-ca.
#![allow(unused)]
use crate::error::{Error, Result};
use std::path::Path;
pub mod csr {
    use crate::error::Result;
    pub struct ParsedCsr {
        pub public_key_der: Vec<u8>,
        pub key_type: KeyType,
        pub names: Vec<String>,
        pub common_name: Option<String>,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyType {
        Rsa(u32),
        EcdsaP256,
        EcdsaP384,
    }
    pub fn parse(der: &[u8]) -> Result<ParsedCsr> {
        todo!()
    }
}
pub mod dev {
    use crate::error::Result;
    use std::path::Path;
    pub fn generate_hierarchy(
        name: &str,
        root_cert: &Path,
        intermediate_cert: &Path,
        intermediate_key: &Path,
    ) -> Result<()> {
        todo!()
    }
}
pub mod profile {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Profile {
        Dv,
    }
    impl Profile {
        pub fn name(self) -> &'static str {
            "dv"
        }
        pub fn parse(s: &str) -> Option<Self> {
            todo!()
        }
        pub fn description(self) -> &'static str {
            todo!()
        }
        pub fn allows_wildcards(self) -> bool {
            true
        }
        pub fn all() -> &'static [Profile] {
            &[Profile::Dv]
        }
    }
    pub const DEFAULT_PROFILE: &str = "dv";
}
pub mod schedule {
    pub fn max_validity(issued_at: time::OffsetDateTime) -> time::Duration {
        todo!()
    }
    pub fn max_dcv_reuse(at: time::OffsetDateTime) -> time::Duration {
        todo!()
    }
}
pub struct CertificateAuthority;
impl CertificateAuthority {
    pub fn load(
        root_cert: &Path,
        intermediate_cert: &Path,
        intermediate_key: &Path,
    ) -> Result<Self> {
        todo!()
    }
    pub fn root_pem(&self) -> &str {
        todo!()
    }
    pub fn intermediate_pem(&self) -> &str {
        todo!()
    }
    pub fn issue(&self, req: &IssuanceRequest) -> Result<IssuedCertificate> {
        todo!()
    }
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<(String, String)> {
        todo!()
    }
}
pub struct IssuanceRequest {
    pub public_key_der: Vec<u8>,
    pub names: Vec<String>,
    pub profile: profile::Profile,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    pub serial: Serial,
    pub crl_url: Option<String>,
    pub issuer_url: Option<String>,
}
pub struct IssuedCertificate {
    pub serial: Serial,
    pub der: Vec<u8>,
    pub pem: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial(pub [u8; 16]);
impl Serial {
    pub fn random() -> Result<Self> {
        todo!()
    }
    pub fn to_hex(&self) -> String {
        todo!()
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        todo!()
    }
}
