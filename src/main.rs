//! The `trustgate` command: serve the ACME CA, or administer it. Each
//! subcommand's body is in `cli`; here: parse the arguments, load the
//! configuration, start the runtime, run the command.

use std::process::ExitCode;

use clap::Parser;
use trustgate::config::Config;

mod cli;

/// glibc's allocator took about a tenth of the server's CPU under load
/// (many small short-lived allocations across threads); mimalloc's
/// thread-local free lists make that cheaper (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let cfg = match cli::load_config(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("trustgate: {}", e.detail);
            return ExitCode::FAILURE;
        }
    };
    let runtime = match runtime(cfg.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trustgate: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trustgate: {}", e.detail);
            ExitCode::FAILURE
        }
    }
}

/// Blocking threads are database calls (and a little file I/O). The
/// store runs one per pooled connection at most (calls beyond wait
/// without a thread), but tokio starts a new thread whenever none is idle
/// at the instant of a call, and each thread keeps its allocator's pages:
/// uncapped, 22 to 29 blocking threads served 8 connections at C = 512 on
/// PostgreSQL (peak RSS 99–111 MiB; capped like this, 84–88 MiB).
fn runtime(cfg: Option<&Config>) -> std::io::Result<tokio::runtime::Runtime> {
    let pool = cfg.map_or(8, |c| c.database.pool_size.max(1) as usize);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(pool + 4)
        .build()
}
