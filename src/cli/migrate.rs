//! `trustgate migrate`: apply pending database migrations and exit.

use trustgate::app;
use trustgate::config::{self, Config};
use trustgate::error::Result;

pub fn run(cfg: &Config) -> Result<()> {
    app::open_store(cfg)?;
    println!(
        "migrations applied to {}",
        config::redact_url(&cfg.database_url())
    );
    Ok(())
}
