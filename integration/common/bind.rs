//! BIND 9 (`named`) on loopback, authoritative for the names the DNS tests
//! validate: one per test, killed on drop. What works with BIND 9.18 on
//! this machine is recorded in the shared notes (dns.md).
//!
//! One server holds every zone, and `jp.` delegates the others to it, so
//! a resolver pointed at it finds everything without recursion:
//! - `example.jp.`: the subscriber's zone, open to dynamic updates signed
//!   with the TSIG key (certbot-dns-rfc2136, nsupdate), plus the records a
//!   test passes (CAA, CNAMEs);
//! - `acme-delegate.jp.`: dynamic too, where a delegated `_acme-challenge`
//!   CNAME points;
//! - `broken.jp.`: configured without a zone file, so BIND answers
//!   SERVFAIL for every name in it.
//!
//! Query logging is on, so a test can tell what the server's VA asked.

use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tempfile::TempDir;

use super::server::{free_port, stop_and_keep_if_failed, tail, VaDns};

#[path = "../../src/va/bind_tools.rs"]
mod bind_tools;
use bind_tools::{keygen, sign, tool};

/// The TSIG key's name in named.conf, nsupdate's key file and certbot's
/// credentials.
const TSIG_KEY_NAME: &str = "acme-key";

/// Loading four small zones takes well under a second; online signing
/// about another second.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// One UDP query to loopback.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Start of every zone file; `ns.jp.` is this server.
const ZONE_HEAD: &str = "$TTL 60\n@ IN SOA ns.jp. admin.jp. 1 3600 600 86400 60\n\
                         @ IN NS ns.jp.\n";

/// Whether and how `jp.` and `example.jp.` are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Unsigned,
    /// named signs both zones itself (`dnssec-policy default`), dynamic
    /// updates included; the DS of `example.jp.` is added to `jp.` at
    /// start, and `jp.`'s key is the trust anchor.
    Online,
    /// Signed once with dnssec-signzone and served from static files;
    /// `example.jp.` takes no updates. A certbot auth hook from
    /// [`Bind::resigning_hook`] adds the challenge and signs again.
    Offline,
}

pub struct Bind {
    addr: SocketAddr,
    signing: Signing,
    /// The DNSKEY file of `jp.`, when signed.
    anchor: Option<PathBuf>,
    /// dnssec-keygen's name of the `example.jp.` key (Offline only).
    example_key: Option<String>,
    log: PathBuf,
    child: Child,
    dir: TempDir,
}

impl Bind {
    /// Starts named with `example_records` (zone-file lines relative to
    /// `example.jp.`) added to `example.jp.`, and waits until it
    /// answers for every zone (signed, with `signing`).
    pub fn start(signing: Signing, example_records: &str) -> Bind {
        let named = tool("named");
        let mut dir = tempfile::Builder::new()
            .prefix("trustgate-bind-")
            .tempdir()
            .expect("creating BIND's directory");
        let d = dir.path().to_owned();
        fs::create_dir(d.join("keys")).expect("creating the key directory");
        write_tsig_key(&d);
        let (anchor, example_key) = write_zones(&d, signing, example_records);

        let log = d.join("named.log");
        // Ports come from the harness's pool; named exits when it cannot
        // listen on its port, and then we take another.
        for _ in 0..4 {
            let port = free_port();
            fs::write(d.join("named.conf"), named_conf(&d, port, signing))
                .expect("writing named.conf");
            let child = Command::new(&named)
                // Foreground, everything (query log included) to stderr;
                // one worker thread is plenty.
                .args(["-g", "-n", "1", "-c"])
                .arg(d.join("named.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).expect("creating named's log"))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", named.display()));
            let mut bind = Bind {
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                signing,
                anchor: anchor.clone(),
                example_key: example_key.clone(),
                log: log.clone(),
                child,
                dir,
            };
            match bind.wait_until_ready() {
                Ok(()) => {
                    if signing == Signing::Online {
                        bind.finish_online_signing();
                    }
                    bind.write_rfc2136_credentials();
                    return bind;
                }
                Err(log) if log.contains("unable to listen on any configured interfaces") => {
                    dir = bind.into_dir();
                    // What named may have made before it gave up: keys
                    // (Online) and journals. The next one starts afresh.
                    fs::remove_dir_all(d.join("keys")).expect("clearing the key directory");
                    fs::create_dir(d.join("keys")).expect("creating the key directory");
                    for e in fs::read_dir(&d)
                        .expect("reading BIND's directory")
                        .flatten()
                    {
                        if e.path().extension().is_some_and(|x| x == "jnl") {
                            fs::remove_file(e.path()).expect("removing a journal");
                        }
                    }
                }
                Err(log) => panic!("named exited during startup\n{log}"),
            }
        }
        panic!("named kept finding its port taken");
    }

    /// The server's `[va]` DNS settings for resolving through this BIND:
    /// DNSSEC validated, from `jp.`'s key, whenever the zones are signed.
    pub fn va_dns(&self) -> VaDns {
        VaDns {
            resolver: self.addr,
            dnssec: self.signing != Signing::Unsigned,
            trust_anchors: self.anchor.iter().cloned().collect(),
        }
    }

    /// certbot-dns-rfc2136's credentials file (mode 600, as certbot wants).
    pub fn rfc2136_credentials(&self) -> PathBuf {
        self.dir.path().join("rfc2136.ini")
    }

    /// The TXT strings at `name` (each record's strings joined), as this
    /// server answers now.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let answer = self
            .query(name, RecordType::TXT)
            .unwrap_or_else(|e| panic!("querying TXT {name}: {e}\n{}", self.log_tail(40)));
        answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Whether anyone asked this server for `rtype` records at `name`.
    pub fn was_queried(&self, name: &str, rtype: &str) -> bool {
        self.logged(&format!(
            " query: {} IN {} ",
            name.trim_end_matches('.'),
            rtype.to_ascii_uppercase()
        ))
    }

    /// Whether named's log has `needle` (names compared in lower case).
    pub fn logged(&self, needle: &str) -> bool {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    }

    /// Adds records (zone-file lines with owner and TTL) to `zone` through
    /// a TSIG-signed dynamic update.
    pub fn update(&self, zone: &str, records: &[&str]) {
        let mut script = format!("server 127.0.0.1 {}\nzone {zone}\n", self.addr.port());
        for r in records {
            script.push_str(&format!("update add {r}\n"));
        }
        script.push_str("send\n");
        let script_path = self.dir.path().join("update.txt");
        fs::write(&script_path, script).expect("writing the nsupdate script");
        let out = Command::new(tool("nsupdate"))
            .arg("-k")
            .arg(self.dir.path().join("tsig.key"))
            .arg(&script_path)
            .output()
            .expect("running nsupdate");
        assert!(
            out.status.success(),
            "nsupdate into {zone} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(40)
        );
    }

    /// certbot `--manual-auth-hook` and `--manual-cleanup-hook` for a
    /// delegated `_acme-challenge`: they look up the CNAME at
    /// `_acme-challenge.$CERTBOT_DOMAIN` and add (remove) the TXT record at
    /// its target with nsupdate, as a subscriber whose challenge names
    /// point into a zone of its own does.
    pub fn delegated_hooks(&self) -> (PathBuf, PathBuf) {
        let script = |action: &str| {
            r#"#!/bin/sh
# certbot manual @ACTION@ hook (trustgate test harness): the TXT record goes
# where _acme-challenge.$CERTBOT_DOMAIN points.
set -eu
name="_acme-challenge.$CERTBOT_DOMAIN."
target=$('@DIG@' @127.0.0.1 -p @PORT@ +norec +short CNAME "$name")
if [ -z "$target" ]; then
    echo "$name is not a CNAME" >&2
    exit 1
fi
'@NSUPDATE@' -k '@KEY@' <<EOF
server 127.0.0.1 @PORT@
update @ACTION@ $target 60 IN TXT "$CERTBOT_VALIDATION"
send
EOF
"#
            .replace("@ACTION@", action)
            .replace("@DIG@", path_str(&tool("dig")))
            .replace("@NSUPDATE@", path_str(&tool("nsupdate")))
            .replace("@KEY@", path_str(&self.dir.path().join("tsig.key")))
            .replace("@PORT@", &self.addr.port().to_string())
        };
        (
            self.write_hook("delegated-auth.sh", &script("add")),
            self.write_hook("delegated-cleanup.sh", &script("delete")),
        )
    }

    /// A certbot `--manual-auth-hook` for [`Signing::Offline`]: adds the
    /// challenge's TXT record to `example.jp.`, signs the zone again and
    /// has named reload it. With `tamper`, the zone is signed over another
    /// value and then served with the real one, so the record is still
    /// right but its RRSIG no longer matches (DNSSEC Bogus).
    pub fn resigning_hook(&self, tamper: bool) -> PathBuf {
        assert_eq!(
            self.signing,
            Signing::Offline,
            "only static zones are re-signed"
        );
        let key = self.example_key.as_deref().expect("Offline has a key");
        let script = r#"#!/bin/sh
# certbot manual auth hook (trustgate test harness): publish the challenge in
# the statically signed example.jp and sign again.
set -eu
cd '@DIR@'
value="$CERTBOT_VALIDATION"
signed="$value"
if @TAMPER@; then
    # Same length, every letter and digit shifted by one.
    signed=$(printf %s "$value" | tr 'A-Za-z0-9' 'B-ZAb-za1-90')
fi
printf '_acme-challenge.%s. 60 IN TXT "%s"\n' "$CERTBOT_DOMAIN" "$signed" >> challenge.db
'@SIGNZONE@' -q -z -K . -d . -o example.jp -f example.jp.signed example.jp.db '@KEY@' >/dev/null
if @TAMPER@; then
    sed -i "s/\"$signed\"/\"$value\"/" example.jp.signed
fi
kill -HUP @PID@
# named reloads in the background: wait until it serves the value.
i=0
until '@DIG@' @127.0.0.1 -p @PORT@ +norec +short TXT "_acme-challenge.$CERTBOT_DOMAIN." \
        | grep -qF "\"$value\""; do
    i=$((i + 1))
    if [ "$i" -ge 100 ]; then
        echo "named does not serve the re-signed zone" >&2
        exit 1
    fi
    sleep 0.1
done
"#
        .replace("@DIR@", path_str(self.dir.path()))
        .replace("@TAMPER@", if tamper { "true" } else { "false" })
        .replace("@SIGNZONE@", path_str(&tool("dnssec-signzone")))
        .replace("@KEY@", key)
        .replace("@PID@", &self.child.id().to_string())
        .replace("@DIG@", path_str(&tool("dig")))
        .replace("@PORT@", &self.addr.port().to_string());
        self.write_hook("resign-auth.sh", &script)
    }

    /// The last `lines` lines of named's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "---- named log ({}) ----\n{}",
            self.log.display(),
            tail(&self.log, lines)
        )
    }

    fn write_hook(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).expect("writing a certbot hook");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
            .expect("making a certbot hook executable");
        path
    }

    /// Ok once every zone answers its SOA (signed, unless Unsigned);
    /// Err(the log) if named exited.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let zones = ["jp", "example.jp", "acme-delegate.jp"];
        loop {
            if let Some(status) = self.child.try_wait().expect("polling named") {
                return Err(format!("({status})\n{}", self.log_tail(60)));
            }
            let loaded = |zone: &&str| {
                self.query(zone, RecordType::SOA)
                    .is_ok_and(|m| has(&m, RecordType::SOA))
            };
            let signed = |zone: &&str| {
                // The apex NSEC comes with the signing; with it the zone
                // is complete, not half-signed.
                self.query(zone, RecordType::SOA)
                    .is_ok_and(|m| has(&m, RecordType::RRSIG))
                    && self
                        .query(zone, RecordType::NSEC)
                        .is_ok_and(|m| has(&m, RecordType::NSEC))
            };
            let ready = zones.iter().all(loaded)
                && (self.signing == Signing::Unsigned || ["jp", "example.jp"].iter().all(signed));
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "named not ready after {STARTUP_TIMEOUT:?}\n{}",
                    self.log_tail(60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Online signing: named made the keys; `jp.` gets the DS of
    /// `example.jp.` so the chain of trust reaches it, and its own key
    /// becomes the trust anchor.
    fn finish_online_signing(&mut self) {
        let keys = self.dir.path().join("keys");
        let example_key = key_file(&keys, "example.jp");
        let out = Command::new(tool("dnssec-dsfromkey"))
            .arg("-2")
            .arg(&example_key)
            .output()
            .expect("running dnssec-dsfromkey");
        assert!(out.status.success(), "dnssec-dsfromkey: {out:?}");
        // "example.jp. IN DS 12345 13 2 HEX": a TTL after the owner.
        let ds = String::from_utf8_lossy(&out.stdout)
            .trim()
            .replacen(" IN DS ", " 60 IN DS ", 1);
        self.update("jp", &[&ds]);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while !self
            .query("example.jp", RecordType::DS)
            .is_ok_and(|m| has(&m, RecordType::DS) && has(&m, RecordType::RRSIG))
        {
            assert!(
                Instant::now() < deadline,
                "the DS of example.jp. is not served signed\n{}",
                self.log_tail(60)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.anchor = Some(key_file(&keys, "jp"));
    }

    fn write_rfc2136_credentials(&self) {
        let secret = fs::read_to_string(self.dir.path().join("tsig.secret"))
            .expect("reading the TSIG secret");
        let path = self.rfc2136_credentials();
        fs::write(
            &path,
            format!(
                "dns_rfc2136_server = 127.0.0.1\n\
                 dns_rfc2136_port = {}\n\
                 dns_rfc2136_name = {TSIG_KEY_NAME}\n\
                 dns_rfc2136_secret = {secret}\n\
                 # The plugin's default is HMAC-MD5, which the key is not.\n\
                 dns_rfc2136_algorithm = HMAC-SHA256\n",
                self.addr.port()
            ),
        )
        .expect("writing the rfc2136 credentials");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .expect("restricting the rfc2136 credentials");
    }

    /// One query over UDP, with the DO bit so that signatures come along.
    fn query(&self, name: &str, rtype: RecordType) -> Result<Message, String> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(QUERY_TIMEOUT))
            .map_err(|e| e.to_string())?;
        static NEXT_ID: AtomicU16 = AtomicU16::new(1);
        let mut q = Message::query();
        q.metadata.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut fqdn = Name::from_ascii(name).map_err(|e| e.to_string())?;
        fqdn.set_fqdn(true);
        q.add_query(Query::query(fqdn, rtype));
        let mut edns = Edns::new();
        edns.set_dnssec_ok(true);
        q.set_edns(edns);
        let bytes = q.to_vec().map_err(|e| e.to_string())?;
        socket
            .send_to(&bytes, self.addr)
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
        let m = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
        match m.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(m),
            rc => Err(format!("{name} {rtype}: {rc}")),
        }
    }

    /// Kills named and keeps its directory, for another attempt.
    fn into_dir(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = TempDir::new().expect("creating a placeholder directory");
        std::mem::replace(&mut self.dir, placeholder)
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        stop_and_keep_if_failed(&mut self.child, &mut self.dir, "BIND");
    }
}

/// `tsig.key` for named and nsupdate, and the bare secret for certbot.
fn write_tsig_key(dir: &Path) {
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .expect("random TSIG secret");
    let secret = base64::engine::general_purpose::STANDARD.encode(secret);
    fs::write(
        dir.join("tsig.key"),
        format!("key \"{TSIG_KEY_NAME}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n"),
    )
    .expect("writing the TSIG key");
    fs::write(dir.join("tsig.secret"), &secret).expect("writing the TSIG secret");
}

/// The zone files; Offline also makes the keys and signs. Returns the
/// trust anchor and the `example.jp.` key (Offline only: named makes
/// its own keys when it signs, and the DS is added once they exist).
fn write_zones(
    d: &Path,
    signing: Signing,
    example_records: &str,
) -> (Option<PathBuf>, Option<String>) {
    let write = |file: &str, text: String| {
        fs::write(d.join(file), text).unwrap_or_else(|e| panic!("writing {file}: {e}"))
    };
    let parent = format!(
        "{ZONE_HEAD}ns IN A 127.0.0.1\nexample IN NS ns.jp.\n\
         acme-delegate IN NS ns.jp.\nbroken IN NS ns.jp.\n"
    );
    write("acme-delegate.jp.db", ZONE_HEAD.to_owned());
    if signing != Signing::Offline {
        write("jp.db", parent);
        write("example.jp.db", format!("{ZONE_HEAD}{example_records}\n"));
        return (None, None);
    }
    let example_key = keygen(d, "example.jp");
    write("challenge.db", String::new());
    write(
        "example.jp.db",
        format!(
            "{ZONE_HEAD}$INCLUDE {example_key}.key\n$INCLUDE challenge.db\n{example_records}\n"
        ),
    );
    sign(d, "example.jp", &example_key);
    let test_key = keygen(d, "jp");
    write(
        "jp.db",
        format!("{parent}$INCLUDE {test_key}.key\n$INCLUDE dsset-example.jp.\n"),
    );
    sign(d, "jp", &test_key);
    (Some(d.join(format!("{test_key}.key"))), Some(example_key))
}

fn named_conf(d: &Path, port: u16, signing: Signing) -> String {
    let dir = path_str(d);
    let update = format!("allow-update {{ key \"{TSIG_KEY_NAME}\"; }};");
    let (test, example) = match signing {
        Signing::Unsigned => (
            format!("file \"jp.db\"; {update}"),
            format!("file \"example.jp.db\"; {update}"),
        ),
        Signing::Online => (
            format!("file \"jp.db\"; dnssec-policy default; {update}"),
            format!("file \"example.jp.db\"; dnssec-policy default; {update}"),
        ),
        Signing::Offline => (
            "file \"jp.signed\";".to_owned(),
            "file \"example.jp.signed\";".to_owned(),
        ),
    };
    format!(
        r#"include "{dir}/tsig.key";
options {{
    directory "{dir}";
    key-directory "{dir}/keys";
    pid-file none;
    session-keyfile "{dir}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    allow-transfer {{ none; }};
    notify no;
    querylog yes;
}};
controls {{ }};
zone "jp" {{ type primary; {test} }};
zone "example.jp" {{ type primary; {example} }};
zone "acme-delegate.jp" {{ type primary; file "acme-delegate.jp.db"; {update} }};
# No such file: BIND answers SERVFAIL for the whole zone.
zone "broken.jp" {{ type primary; file "broken.jp.db"; }};
"#
    )
}

/// The public key file named made for `zone` in `keys`.
fn key_file(keys: &Path, zone: &str) -> PathBuf {
    let prefix = format!("K{zone}.+");
    fs::read_dir(keys)
        .expect("reading the key directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".key"))
        })
        .unwrap_or_else(|| panic!("named made no key for {zone} in {}", keys.display()))
}

fn has(m: &Message, rtype: RecordType) -> bool {
    m.answers.iter().any(|r| r.record_type() == rtype)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
