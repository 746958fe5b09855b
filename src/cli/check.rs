//! `trustgate check-config`: the production checks `serve` applies
//! (`app::preflight`), printed without starting anything. Exits non-zero
//! when any setting would refuse the start.

use trustgate::app::preflight;
use trustgate::config::Config;
use trustgate::error::{Error, Result};

pub fn run(cfg: &Config) -> Result<()> {
    // Development or not: a bad [billing] table stops `serve` too.
    if let Some(b) = &cfg.billing {
        b.validate(&cfg.acme.profiles, cfg.ca.validity_days)?;
        trustgate::billing::pdf::Font::load(&b.font)?;
        println!("billing: registration number and price list ok");
    }
    if !preflight::is_production(cfg) {
        println!("development CA (ca.generate_dev_ca = true): the production checks do not apply");
        return Ok(());
    }
    let verdicts = preflight::verdicts(cfg);
    if verdicts.is_empty() {
        println!("ok: production configuration, nothing to fix");
        return Ok(());
    }
    println!("{}", preflight::refusal(&verdicts));
    Err(Error::internal(format!(
        "check-config: {} setting(s) would refuse the start",
        verdicts.len()
    )))
}
