//! A SoftHSM2 token for the intermediate's key: its own configuration and
//! token directory per test, `trustgate init --pkcs11-module … --token …`
//! generating the key inside it, and the `[ca]` lines that use it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const TOKEN: &str = "trustgate-ca";
pub const PIN: &str = "it-user-pin-8642";

/// A SoftHSM2 configuration with one empty token, in its own directory.
pub struct SoftHsm {
    pub dir: tempfile::TempDir,
}

impl SoftHsm {
    pub fn new() -> SoftHsm {
        let dir = tempfile::Builder::new()
            .prefix("trustgate-softhsm-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        let hsm = SoftHsm { dir };
        let out = hsm
            .command("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN, "--pin", PIN])
            .args(["--so-pin", "it-so-pin"])
            .output()
            .expect("softhsm2-util (Debian softhsm2; scripts/test installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        hsm
    }

    /// The SOFTHSM2_CONF the server needs.
    pub fn conf(&self) -> String {
        self.dir.path().join("softhsm2.conf").display().to_string()
    }

    pub fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", self.conf());
        c
    }

    /// `trustgate init` in `dir` with the key generated in the token;
    /// returns what it printed, after checking that it names the key and
    /// neither prints the PIN nor writes a key file.
    pub fn init_ca(&self, dir: &Path) -> String {
        let out = self
            .command(env!("CARGO_BIN_EXE_trustgate"))
            .current_dir(dir)
            .env("TRUSTGATE_PKCS11_PIN", PIN)
            .args(["--config", "init.toml", "init", "--pkcs11-module", MODULE])
            .args(["--token", TOKEN])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "trustgate init failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!(
                "intermediate_key = \"pkcs11:token={TOKEN};object=trustgate-intermediate\""
            )),
            "{stdout}"
        );
        assert!(!stdout.contains(PIN), "{stdout}");
        assert!(!dir.join("data/ca/intermediate.key").exists());
        stdout
    }

    /// The `[ca]` keys (no header) that sign with the token's key.
    pub fn ca_lines(&self) -> String {
        format!(
            "intermediate_key = \"pkcs11:token={TOKEN};object=trustgate-intermediate\"\n\
             pkcs11_module = \"{MODULE}\"\npkcs11_pin_file = \"{}\"\n",
            self.dir.path().join("pin").display()
        )
    }

    /// pkcs11-tool sees the private key as sensitive and never
    /// extractable.
    pub fn assert_private_key_stays_in_the_token(&self) {
        let out = self
            .command("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", TOKEN])
            .args(["--login", "--pin", PIN])
            .args(["--list-objects", "--type", "privkey"])
            .output()
            .expect("pkcs11-tool (Debian opensc; scripts/test installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("trustgate-intermediate"), "{text}");
        assert!(text.contains("never extractable"), "{text}");
        assert!(text.contains("sensitive"), "{text}");
    }
}
