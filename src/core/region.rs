//! Regional Internet Registries: where a remote validation perspective is
//! (BR 3.2.2.9 asks for corroboration from at least two distinct RIRs).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Region {
    #[serde(rename = "ARIN")]
    Arin,
    #[serde(rename = "RIPE")]
    Ripe,
    #[serde(rename = "APNIC")]
    Apnic,
    #[serde(rename = "LACNIC")]
    Lacnic,
    #[serde(rename = "AFRINIC")]
    Afrinic,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Arin => "ARIN",
            Region::Ripe => "RIPE",
            Region::Apnic => "APNIC",
            Region::Lacnic => "LACNIC",
            Region::Afrinic => "AFRINIC",
        }
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
