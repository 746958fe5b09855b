//! Where the log lines go, set up once before any command runs.

use trustgate::config::{LogConfig, LogFormat};
use trustgate::error::{Error, Result};

/// Logs go to standard error, as text or one JSON object per line; in
/// JSON the request span (with `request_id`) is the `span` member.
pub fn init(cfg: &LogConfig) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match EnvFilter::try_from_default_env() {
        Ok(f) => f,
        Err(_) => EnvFilter::try_new(&cfg.level)
            .map_err(|e| Error::internal(format!("log.level {:?}: {e}", cfg.level)))?,
    };
    // Colours only for a person at a terminal, not into files or journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| Error::internal(format!("setting up logging: {e}")))
}
