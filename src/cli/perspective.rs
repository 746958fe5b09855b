//! `trustgate perspective`: serve a remote validation perspective; and
//! `trustgate perspective init`: write a development perspective PKI and
//! print the configuration of both sides.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;
use trustgate::config::Config;
use trustgate::core::{Clock, Region};
use trustgate::error::{Error, Result};
use trustgate::perspective::pki::DevPki;
use trustgate::perspective::{self, Perspective};

use super::PerspectiveInit;

/// Serves `POST /v1/check` until SIGTERM or Ctrl-C.
pub async fn serve(cfg: Config) -> Result<()> {
    let Some(p) = &cfg.perspective else {
        return Err(Error::internal(
            "`trustgate perspective` needs a [perspective] table in the configuration",
        ));
    };
    let tls = perspective::tls_config(p)?;
    let service = Arc::new(Perspective::new(&cfg.va, Clock::system())?);
    let listener = tokio::net::TcpListener::bind(p.listen)
        .await
        .map_err(|e| Error::internal(format!("binding {}: {e}", p.listen)))?;
    tracing::info!(listen = %p.listen, region = %p.region, "remote perspective serving");
    let (tx, mut rx) = watch::channel(false);
    tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        tracing::info!("signal received; shutting down");
        let _ = tx.send(true);
    });
    let shutdown = async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    perspective::serve(listener, tls, service, shutdown).await;
    Ok(())
}

/// Writes the PKI under `--dir` and prints both configuration tables.
pub fn init(args: &PerspectiveInit) -> Result<()> {
    let region = parse_region(&args.region)?;
    let pki = DevPki::generate(&args.dir, &args.name, &args.host, Clock::system().now())?;
    let url = url(&args.host[0], args.listen);
    println!(
        "wrote a development perspective PKI under {}",
        args.dir.display()
    );
    println!(
        "keys are mode 0600; {} stays with whoever issues the next certificates\n",
        pki.ca_key.display()
    );
    println!("# the perspective's configuration (plus its own [va] table):");
    println!(
        "{}",
        pki.perspective_snippet(&args.listen.to_string(), region)
    );
    println!(
        "# the primary's configuration (copy {}, {} and {} to it):",
        pki.ca_cert.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    println!("{}", pki.primary_snippet(&args.name, &url, region));
    warn_if_relative(&args.dir);
    Ok(())
}

fn parse_region(s: &str) -> Result<Region> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase())).map_err(|_| {
        Error::malformed(format!(
            "unknown region {s:?}: one of ARIN, RIPE, APNIC, LACNIC, AFRINIC"
        ))
    })
}

/// The URL the primary uses: the first host and the listen port.
fn url(host: &str, listen: SocketAddr) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}", listen.port()),
        _ => format!("https://{host}:{}", listen.port()),
    }
}

fn warn_if_relative(dir: &Path) {
    if dir.is_relative() {
        println!("# paths are relative to the directory each process is started in");
    }
}
