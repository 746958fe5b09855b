//! The intermediate's key inside a PKCS#11 token (BR 6.2.7: CA private
//! keys are kept in hardware).
//!
//! The token is named by an RFC 7512 URI (`pkcs11:token=…;object=…`), the
//! module by its library path, and the PIN comes from the environment or
//! a file, never from the URI, a log line or a `Debug` print.
//!
//! Signing borrows one logged-in session from a small pool, so concurrent
//! issuances do not queue behind one session (a session is not safe to
//! share between threads). When the token goes away, the session that saw
//! it is dropped with the whole connection, the caller gets a retryable
//! `Unavailable` error, and the next signature connects again: the module
//! is re-initialised, the token found by its label, the user logged in
//! and the key found, without restarting the server.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use rcgen::{
    PublicKeyData, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    PKCS_RSA_SHA256,
};

use crate::error::{Error, Result};

/// Where the PIN is read when `ca.pkcs11_pin_file` is not set.
pub const PIN_ENV: &str = "TRUSTGATE_PKCS11_PIN";

/// Most idle logged-in sessions kept for reuse; more are opened when more
/// signatures run at once, and closed again after use.
const IDLE_SESSIONS: usize = 4;

/// The client's detail when the token cannot sign; the cause is logged.
const UNAVAILABLE: &str = "the CA's signing key is unavailable; retry later";

/// A PKCS#11 URI (RFC 7512) naming the intermediate's private key: the
/// token by label (and serial, if given), the object by label and/or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: String,
    pub serial: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
}

impl Pkcs11Uri {
    /// Parses `pkcs11:token=…;object=…[;id=…][;serial=…][;type=private]`,
    /// percent-decoding each value (RFC 7512 §2.3). Query attributes are
    /// refused: a PIN in the URI would end up in config files and logs.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri> {
        let bad = |m: String| Error::internal(format!("ca.intermediate_key: {m}"));
        let path = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("a PKCS#11 URI starts with \"pkcs11:\"".into()))?;
        if path.contains('?') {
            return Err(bad(format!(
                "query attributes (after '?') are not accepted; the PIN comes from {PIN_ENV} \
                 or ca.pkcs11_pin_file, the module from ca.pkcs11_module"
            )));
        }
        let mut parsed = Pkcs11Uri {
            token: String::new(),
            serial: None,
            object: None,
            id: None,
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("{attr:?} is not name=value")))?;
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
            let text = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| bad(format!("{name} is not UTF-8 after percent-decoding")))
            };
            match name {
                "token" => parsed.token = text()?,
                "serial" => parsed.serial = Some(text()?),
                "object" => parsed.object = Some(text()?),
                "id" => parsed.id = Some(bytes),
                "type" if value == "private" => {}
                "type" => return Err(bad("type must be \"private\" (the private key)".into())),
                other => return Err(bad(format!("unsupported attribute {other:?}"))),
            }
        }
        if parsed.token.is_empty() {
            return Err(bad("token=LABEL is required".into()));
        }
        if parsed.object.is_none() && parsed.id.is_none() {
            return Err(bad("object=LABEL or id=%XX… is required".into()));
        }
        Ok(parsed)
    }
}

/// The user PIN of the token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Pin(AuthPin);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl Pin {
    pub fn new(pin: String) -> Pin {
        Pin(AuthPin::from(pin))
    }

    /// From `file` when one is configured (trailing newline dropped),
    /// else from the `TRUSTGATE_PKCS11_PIN` environment variable.
    pub fn load(file: Option<&Path>) -> Result<Pin> {
        if let Some(path) = file {
            if super::key::readable_by_others(path).unwrap_or(false) {
                tracing::warn!(file = %path.display(), "the PKCS#11 PIN file is readable by group or others; chmod 400 it");
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::internal(format!(
                    "reading ca.pkcs11_pin_file {}: {e}",
                    path.display()
                ))
            })?;
            return Ok(Pin::new(text.trim_end_matches(['\r', '\n']).to_owned()));
        }
        match std::env::var(PIN_ENV) {
            Ok(pin) => Ok(Pin::new(pin)),
            Err(_) => Err(Error::internal(format!(
                "the PKCS#11 PIN is not set: set {PIN_ENV} or ca.pkcs11_pin_file"
            ))),
        }
    }
}

/// Everything needed to reach the key.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The PKCS#11 module (shared library).
    pub module: PathBuf,
    pub uri: Pkcs11Uri,
    pub pin: Pin,
}

/// The key types the intermediate may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    /// RSA with this many modulus bits (2048–4096), signing PKCS#1 v1.5
    /// with SHA-256.
    Rsa(u32),
}

impl KeyKind {
    /// The kind of the key in a subjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Result<KeyKind> {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        let unsupported =
            || Error::internal("the intermediate's key is neither ECDSA P-256/P-384 nor RSA");
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|_| unsupported())?;
        match spki.parsed().map_err(|_| unsupported())? {
            PublicKey::EC(p) if p.key_size() == 256 => Ok(KeyKind::EcdsaP256),
            PublicKey::EC(p) if p.key_size() == 384 => Ok(KeyKind::EcdsaP384),
            PublicKey::RSA(k) => {
                let bits = u32::try_from(k.key_size()).unwrap_or(0);
                if (2048..=4096).contains(&bits) {
                    Ok(KeyKind::Rsa(bits))
                } else {
                    Err(Error::internal(format!(
                        "RSA intermediate key of {bits} bits; 2048 to 4096 are supported"
                    )))
                }
            }
            _ => Err(unsupported()),
        }
    }

    pub fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
            KeyKind::Rsa(_) => &PKCS_RSA_SHA256,
        }
    }

    /// The DER of the named curve's OID (CKA_EC_PARAMS), for EC keys.
    fn ec_params(self) -> Option<&'static [u8]> {
        match self {
            // 1.2.840.10045.3.1.7
            KeyKind::EcdsaP256 => Some(&[6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7]),
            // 1.3.132.0.34
            KeyKind::EcdsaP384 => Some(&[6, 5, 0x2b, 0x81, 4, 0, 0x22]),
            KeyKind::Rsa(_) => None,
        }
    }

    /// Length of one coordinate (and of r and s), for EC keys.
    fn field_len(self) -> usize {
        match self {
            KeyKind::EcdsaP256 => 32,
            KeyKind::EcdsaP384 => 48,
            KeyKind::Rsa(_) => 0,
        }
    }
}

/// The intermediate's private key in a token; signs through a pool of
/// logged-in sessions.
pub struct TokenKey {
    config: TokenConfig,
    kind: KeyKind,
    /// The public key as the intermediate certificate carries it
    /// (subjectPublicKey), which every signature must verify with.
    public_key: Vec<u8>,
    /// None while the token is unreachable; the next signature connects.
    live: RwLock<Option<Live>>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("config", &self.config)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// One connection to the module: the token's slot, the key's handle and
/// the idle logged-in sessions.
struct Live {
    ctx: Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    /// Tells connections apart, so a failure seen on an old one does not
    /// tear down its replacement.
    generation: u64,
    idle: Mutex<Vec<Session>>,
}

/// Why a signature failed: the token is unreachable (retry later), or
/// something that retrying will not fix.
#[derive(Debug)]
pub enum TokenFailure {
    Unavailable(String),
    Failed(String),
}

impl TokenFailure {
    /// The error for the caller; the cause is logged here, because an
    /// `Unavailable` detail reaches the ACME client.
    pub fn into_error(self) -> Error {
        match self {
            TokenFailure::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "PKCS#11 token unavailable");
                Error::unavailable(UNAVAILABLE)
            }
            TokenFailure::Failed(cause) => Error::internal(format!("PKCS#11: {cause}")),
        }
    }
}

impl TokenKey {
    /// Connects to the token, finds the key and checks with one signature
    /// that it is the key of `spki_der` (the intermediate certificate's
    /// subjectPublicKeyInfo). Fails with a message naming the module and
    /// token, and never the PIN.
    pub fn open(config: TokenConfig, spki_der: &[u8]) -> Result<TokenKey> {
        let kind = KeyKind::of_spki(spki_der)?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| Error::internal(format!("intermediate public key: {e}")))?;
        let key = TokenKey {
            kind,
            public_key: spki.der_bytes().to_vec(),
            live: RwLock::new(None),
            config,
        };
        let describe = |m: String| {
            Error::internal(format!(
                "PKCS#11 key {:?} in token {:?} (module {}): {m}",
                key.config.uri.object.as_deref().unwrap_or(""),
                key.config.uri.token,
                key.config.module.display()
            ))
        };
        let probe = b"trustgate: is this the intermediate's key?";
        let sig = key.sign(probe).map_err(|f| match f {
            TokenFailure::Unavailable(m) | TokenFailure::Failed(m) => describe(m),
        })?;
        if !verify(kind, &key.public_key, probe, &sig) {
            return Err(describe(
                "is not the key of the intermediate certificate".into(),
            ));
        }
        Ok(key)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Signs `msg` as an X.509 signatureValue: DER ECDSA-Sig-Value for EC
    /// keys, PKCS#1 v1.5 with SHA-256 for RSA.
    pub fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, TokenFailure> {
        let generation = self.ensure_live()?;
        let result = {
            let guard = self.live.read().map_err(|_| poisoned())?;
            match guard.as_ref() {
                Some(live) if live.generation == generation => self.sign_with(live, msg),
                // Torn down and replaced meanwhile: the caller retries.
                _ => Err(TokenFailure::Unavailable("reconnected meanwhile".into())),
            }
        };
        if let Err(TokenFailure::Unavailable(_)) = &result {
            self.tear_down(generation);
        }
        result
    }

    fn sign_with(&self, live: &Live, msg: &[u8]) -> std::result::Result<Vec<u8>, TokenFailure> {
        let session = live.session(&self.config.pin)?;
        let signed = match self.kind {
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                let digest = match self.kind {
                    KeyKind::EcdsaP256 => ring::digest::digest(&ring::digest::SHA256, msg),
                    _ => ring::digest::digest(&ring::digest::SHA384, msg),
                };
                session
                    .sign(&Mechanism::Ecdsa, live.key, digest.as_ref())
                    .map_err(classify)
                    .and_then(|raw| {
                        ecdsa_sig_der(&raw, self.kind.field_len()).ok_or_else(|| {
                            TokenFailure::Failed(format!(
                                "ECDSA signature of {} octets, expected {}",
                                raw.len(),
                                2 * self.kind.field_len()
                            ))
                        })
                    })
            }
            KeyKind::Rsa(_) => session
                .sign(&Mechanism::Sha256RsaPkcs, live.key, msg)
                .map_err(classify),
        };
        if !matches!(signed, Err(TokenFailure::Unavailable(_))) {
            live.put_back(session);
        }
        signed
    }

    /// The generation of a live connection, connecting first if needed.
    fn ensure_live(&self) -> std::result::Result<u64, TokenFailure> {
        if let Some(live) = self.live.read().map_err(|_| poisoned())?.as_ref() {
            return Ok(live.generation);
        }
        let mut guard = self.live.write().map_err(|_| poisoned())?;
        if let Some(live) = guard.as_ref() {
            return Ok(live.generation);
        }
        let generation = GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let live = Live::connect(&self.config, generation)?;
        *guard = Some(live);
        Ok(generation)
    }

    /// Drops connection `generation` (if still current): its sessions are
    /// closed and the module finalised, so the next connection re-reads
    /// the tokens.
    fn tear_down(&self, generation: u64) {
        let Ok(mut guard) = self.live.write() else {
            return;
        };
        if guard.as_ref().is_some_and(|l| l.generation == generation) {
            if let Some(live) = guard.take() {
                live.finalize();
            }
            tracing::warn!("PKCS#11 connection dropped; reconnecting on the next signature");
        }
    }
}

impl PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.kind.algorithm()
    }
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn poisoned() -> TokenFailure {
    TokenFailure::Failed("session pool lock poisoned".into())
}

impl Live {
    fn connect(config: &TokenConfig, generation: u64) -> std::result::Result<Live, TokenFailure> {
        let ctx = initialize(&config.module).map_err(TokenFailure::Unavailable)?;
        let found = find_slot(&ctx, &config.uri).and_then(|slot| {
            let session = open_session(&ctx, slot, &config.pin)?;
            let key = find_key(&session, &config.uri)?;
            Ok((slot, key, session))
        });
        match found {
            Ok((slot, key, session)) => Ok(Live {
                ctx,
                slot,
                key,
                generation,
                idle: Mutex::new(vec![session]),
            }),
            Err(f) => {
                // Finalise so that a token that comes back is read again.
                // (Not for a wrong PIN or a missing key: nothing to re-read.)
                if let TokenFailure::Unavailable(_) = f {
                    let _ = ctx.finalize();
                }
                Err(f)
            }
        }
    }

    fn session(&self, pin: &Pin) -> std::result::Result<Session, TokenFailure> {
        if let Some(s) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(s);
        }
        open_session(&self.ctx, self.slot, pin)
    }

    fn put_back(&self, session: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_SESSIONS {
                idle.push(session);
            }
        }
    }

    fn finalize(self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        let _ = self.ctx.finalize();
    }
}

/// The module, loaded once per process and path and never unloaded
/// (unloading and loading it again while other threads use it is not
/// safe), initialised if it is not (again, after a finalise).
fn initialize(module: &Path) -> std::result::Result<Pkcs11, String> {
    static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut modules = MODULES
        .lock()
        .map_err(|_| "PKCS#11 module list lock poisoned".to_owned())?;
    let ctx = match modules.iter().find(|(p, _)| p == module) {
        Some((_, ctx)) => ctx.clone(),
        None => {
            let ctx = Pkcs11::new(module)
                .map_err(|e| format!("loading the PKCS#11 module {}: {e}", module.display()))?;
            modules.push((module.to_path_buf(), ctx.clone()));
            ctx
        }
    };
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(format!("initialising {}: {e}", module.display())),
    }
}

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> std::result::Result<Slot, TokenFailure> {
    let slots = ctx.get_slots_with_token().map_err(classify)?;
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let serial_ok = uri
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number().trim_end() == s);
        if info.label().trim_end() == uri.token && serial_ok {
            return Ok(slot);
        }
    }
    Err(TokenFailure::Unavailable(format!(
        "no token labelled {:?} is present",
        uri.token
    )))
}

/// A read-write session on `slot` with the user logged in (login is per
/// token, so later sessions find it done already).
fn open_session(ctx: &Pkcs11, slot: Slot, pin: &Pin) -> std::result::Result<Session, TokenFailure> {
    let session = ctx.open_rw_session(slot).map_err(classify)?;
    match session.login(UserType::User, Some(&pin.0)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => Err(
            TokenFailure::Failed("logging in: the PIN is wrong (CKR_PIN_INCORRECT)".into()),
        ),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(TokenFailure::Failed(
            "logging in: the user PIN is locked".into(),
        )),
        Err(e) => Err(classify(e)),
    }
}

fn find_key(session: &Session, uri: &Pkcs11Uri) -> std::result::Result<ObjectHandle, TokenFailure> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session.find_objects(&template).map_err(classify)?;
    match found.as_slice() {
        [key] => Ok(*key),
        [] => Err(TokenFailure::Failed(format!(
            "no private key object {:?} in token {:?}",
            uri.object.as_deref().unwrap_or(""),
            uri.token
        ))),
        more => Err(TokenFailure::Failed(format!(
            "{} private key objects match; name one by id",
            more.len()
        ))),
    }
}

/// Errors that mean the token or module is not reachable now (removed,
/// restarted, sessions lost) are worth retrying after reconnecting; the
/// rest are not.
fn classify(e: CkError) -> TokenFailure {
    let text = e.to_string();
    match e {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::MechanismInvalid
            | RvError::MechanismParamInvalid
            | RvError::KeyTypeInconsistent
            | RvError::KeyFunctionNotPermitted
            | RvError::DataLenRange
            | RvError::ArgumentsBad
            | RvError::FunctionNotSupported => TokenFailure::Failed(text),
            _ => TokenFailure::Unavailable(text),
        },
        CkError::LibraryLoading(_) => TokenFailure::Unavailable(text),
        _ => TokenFailure::Failed(text),
    }
}

/// The token's raw r‖s as a DER ECDSA-Sig-Value (RFC 3279 §2.2.3).
fn ecdsa_sig_der(raw: &[u8], field_len: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * field_len {
        return None;
    }
    let (r, s) = raw.split_at(field_len);
    let mut body = der_uint(r);
    body.extend(der_uint(s));
    Some(der_tlv(0x30, &body))
}

/// A DER INTEGER holding the unsigned big-endian `magnitude`.
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let first = magnitude.iter().position(|b| *b != 0);
    let trimmed = first.map_or(&[0u8][..], |i| &magnitude[i..]);
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    der_tlv(0x02, &content)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Whether `sig` over `msg` verifies with the subjectPublicKey `public_key`.
fn verify(kind: KeyKind, public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    use ring::signature as s;
    let alg: &dyn s::VerificationAlgorithm = match kind {
        KeyKind::EcdsaP256 => &s::ECDSA_P256_SHA256_ASN1,
        KeyKind::EcdsaP384 => &s::ECDSA_P384_SHA384_ASN1,
        KeyKind::Rsa(_) => &s::RSA_PKCS1_2048_8192_SHA256,
    };
    s::UnparsedPublicKey::new(alg, public_key)
        .verify(msg, sig)
        .is_ok()
}

/// A public key read from the token, as rcgen signs it into a certificate.
pub struct GeneratedKey {
    pub kind: KeyKind,
    /// subjectPublicKey (EC point, or DER RSAPublicKey).
    pub public_key: Vec<u8>,
}

impl PublicKeyData for GeneratedKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.kind.algorithm()
    }
}

/// Generates a key pair of `kind` inside the token named by `uri` (label
/// `uri.object`, id `uri.id`): the private key never leaves it
/// (CKA_TOKEN, CKA_SENSITIVE, CKA_PRIVATE, not CKA_EXTRACTABLE, only
/// CKA_SIGN). Refuses if a private key with that label or id exists.
pub fn generate_key(
    module: &Path,
    uri: &Pkcs11Uri,
    pin: &Pin,
    kind: KeyKind,
) -> Result<GeneratedKey> {
    let fail = |m: String| {
        Error::internal(format!(
            "generating the key in token {:?} (module {}): {m}",
            uri.token,
            module.display()
        ))
    };
    let text = |f: TokenFailure| match f {
        TokenFailure::Unavailable(m) | TokenFailure::Failed(m) => m,
    };
    let ctx = initialize(module).map_err(fail)?;
    let slot = find_slot(&ctx, uri).map_err(|f| fail(text(f)))?;
    let session = open_session(&ctx, slot, pin).map_err(|f| fail(text(f)))?;
    if find_key(&session, uri).is_ok() {
        return Err(fail(
            "a private key with this label/id exists already".into(),
        ));
    }
    let label = uri.object.clone().unwrap_or_default().into_bytes();
    let id = uri.id.clone().unwrap_or_else(|| label.clone());
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::Label(label.clone()),
        Attribute::Id(id.clone()),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Label(label),
        Attribute::Id(id),
    ];
    let mechanism = match kind {
        KeyKind::Rsa(bits) => {
            if !(2048..=4096).contains(&bits) {
                return Err(fail("RSA keys must be 2048 to 4096 bits".into()));
            }
            public.push(Attribute::ModulusBits(u64::from(bits).into()));
            public.push(Attribute::PublicExponent(vec![1, 0, 1]));
            Mechanism::RsaPkcsKeyPairGen
        }
        _ => {
            public.push(Attribute::EcParams(
                kind.ec_params().unwrap_or_default().to_vec(),
            ));
            Mechanism::EccKeyPairGen
        }
    };
    let (pub_handle, _) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| fail(e.to_string()))?;
    let public_key = read_public_key(&session, pub_handle, kind).map_err(fail)?;
    Ok(GeneratedKey { kind, public_key })
}

/// The subjectPublicKey of a public key object.
fn read_public_key(
    session: &Session,
    handle: ObjectHandle,
    kind: KeyKind,
) -> std::result::Result<Vec<u8>, String> {
    let wanted = match kind {
        KeyKind::Rsa(_) => vec![AttributeType::Modulus, AttributeType::PublicExponent],
        _ => vec![AttributeType::EcPoint],
    };
    let attrs = session
        .get_attributes(handle, &wanted)
        .map_err(|e| format!("reading the public key: {e}"))?;
    let mut modulus = None;
    let mut exponent = None;
    for a in attrs {
        match a {
            Attribute::EcPoint(p) => return Ok(unwrap_ec_point(&p, kind.field_len())),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    match (modulus, exponent) {
        (Some(n), Some(e)) => {
            let mut body = der_uint(&n);
            body.extend(der_uint(&e));
            Ok(der_tlv(0x30, &body))
        }
        _ => Err("the token returned no public key".into()),
    }
}

/// CKA_EC_POINT is a DER OCTET STRING around the uncompressed point
/// (PKCS#11 §2.3.3); some modules return the bare point.
fn unwrap_ec_point(value: &[u8], field_len: usize) -> Vec<u8> {
    let point_len = 1 + 2 * field_len;
    if value.len() == point_len + 2 && value[0] == 0x04 && usize::from(value[1]) == point_len {
        value[2..].to_vec()
    } else {
        value.to_vec()
    }
}

/// The protection attributes of the private key object (CKA_TOKEN,
/// CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_SIGN,
/// CKA_KEY_TYPE): what shows the key cannot leave the token.
pub fn key_attributes(config: &TokenConfig) -> Result<Vec<Attribute>> {
    let ctx = initialize(&config.module).map_err(Error::internal)?;
    let text = |f: TokenFailure| match f {
        TokenFailure::Unavailable(m) | TokenFailure::Failed(m) => Error::internal(m),
    };
    let slot = find_slot(&ctx, &config.uri).map_err(text)?;
    let session = open_session(&ctx, slot, &config.pin).map_err(text)?;
    let key = find_key(&session, &config.uri).map_err(text)?;
    session
        .get_attributes(
            key,
            &[
                AttributeType::Token,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Sign,
                AttributeType::KeyType,
            ],
        )
        .map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::process::Command;

    use cryptoki::object::Attribute;
    use rcgen::{KeyPair, PublicKeyData};
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::ca::crl::CrlRequest;
    use crate::ca::testutil::{
        openssl_verify, settings, softhsm_token, spec, token_ca, TestCa, TOKEN_PIN,
    };
    use crate::ca::{CertificateAuthority, KeySource};

    #[test]
    fn uri_names_token_object_and_id_percent_decoded() {
        let u = Pkcs11Uri::parse("pkcs11:token=My%20CA;object=int%3Bkey;id=%01%ff;type=private")
            .unwrap();
        assert_eq!(u.token, "My CA");
        assert_eq!(u.object.as_deref(), Some("int;key"));
        assert_eq!(u.id, Some(vec![1, 0xff]));
        let u = Pkcs11Uri::parse("pkcs11:serial=0123;token=t;id=%02").unwrap();
        assert_eq!((u.serial.as_deref(), u.object), (Some("0123"), None));

        for (bad, why) in [
            ("pkcs11:token=t;object=o?pin-value=1234", "query attributes"),
            ("pkcs11:object=o", "token=LABEL is required"),
            ("pkcs11:token=t", "object=LABEL or id"),
            ("pkcs11:token=t;object=o;model=x", "unsupported attribute"),
            ("pkcs11:token=t;object=o;type=public", "type must be"),
            ("ca/intermediate.key", "starts with"),
            ("pkcs11:token=%ff;object=o", "not UTF-8"),
        ] {
            let err = Pkcs11Uri::parse(bad).unwrap_err();
            assert!(err.detail.contains(why), "{bad}: {}", err.detail);
            assert!(!err.detail.contains("1234"), "{}", err.detail);
        }
    }

    #[test]
    fn ecdsa_signature_is_converted_to_der() {
        // r with the high bit set gets a leading zero; s's leading zeros go.
        let mut raw = vec![0x80; 32];
        raw.extend([0u8; 31]);
        raw.push(0x05);
        let der = ecdsa_sig_der(&raw, 32).unwrap();
        let mut want = vec![0x30, 38, 0x02, 33, 0x00];
        want.extend([0x80; 32]);
        want.extend([0x02, 1, 0x05]);
        assert_eq!(der, want);
        assert!(ecdsa_sig_der(&raw[1..], 32).is_none());
        // P-384 with both halves full: lengths stay in short form.
        let der = ecdsa_sig_der(&[0xff; 96], 48).unwrap();
        assert_eq!(&der[..2], &[0x30, 2 * (2 + 49)]);
    }

    /// Each supported key kind generated in SoftHSM2 signs a certificate
    /// that `openssl verify` accepts under the root and intermediate.
    #[test]
    fn token_keys_sign_certificates_openssl_verifies() {
        for (label, kind) in [
            ("p256", KeyKind::EcdsaP256),
            ("p384", KeyKind::EcdsaP384),
            ("rsa2048", KeyKind::Rsa(2048)),
        ] {
            let t = token_ca(label, kind);
            assert!(matches!(t.ca.issuer().key(), crate::ca::CaKey::Token(k) if k.kind() == kind));
            let leaf = KeyPair::generate().unwrap();
            let issued =
                t.ca.sign(&spec(&["hsm.example.com"], leaf.subject_public_key_info()))
                    .unwrap();
            let (ok, out) = openssl_verify(&t, &issued.pem, &[]).expect("openssl");
            assert!(ok, "{label}: {out}");
        }
    }

    /// The CRL signed in the token verifies with `openssl crl -verify`.
    #[test]
    fn token_signs_crls_openssl_verifies() {
        let t = token_ca("crl", KeyKind::EcdsaP256);
        let now = OffsetDateTime::now_utc();
        let der =
            t.ca.sign_crl(&CrlRequest {
                number: 3,
                this_update: now,
                next_update: now + Duration::days(7),
                url: "http://crl.trustgate.jp/crl/0.crl",
                entries: &[],
            })
            .unwrap();
        let crl = t.write("token.crl", &pem::encode(&pem::Pem::new("X509 CRL", der)));
        let inter = t.write("inter.pem", t.ca.intermediate_pem());
        let out = Command::new("openssl")
            .args(["crl", "-noout", "-verify", "-in"])
            .arg(&crl)
            .arg("-CAfile")
            .arg(&inter)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("verify OK"), "{text}");
    }

    /// The generated private key never leaves the token.
    #[test]
    fn generated_key_is_sensitive_and_not_extractable() {
        let _t = token_ca("attrs", KeyKind::EcdsaP256);
        let attrs = key_attributes(&softhsm_token("attrs")).unwrap();
        for want in [
            Attribute::Token(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::NeverExtractable(true),
            Attribute::Sign(true),
        ] {
            assert!(attrs.contains(&want), "{want:?} not in {attrs:?}");
        }
    }

    /// A wrong PIN stops the CA loading, says so, and does not print it.
    #[test]
    fn wrong_pin_fails_clearly_without_the_pin() {
        let t = token_ca("pin", KeyKind::EcdsaP256);
        drop(t.ca);
        let (root, cert, _) = TestCa::paths(t.dir.path());
        let mut token = softhsm_token("pin");
        token.pin = Pin::new("9999-wrong-pin".into());
        let err =
            CertificateAuthority::load_with_key(&root, &cert, &KeySource::Token(token), settings())
                .unwrap_err();
        assert!(err.detail.contains("PIN is wrong"), "{}", err.detail);
        assert!(
            err.detail.contains("\"pin\""),
            "names the token: {}",
            err.detail
        );
        assert!(!err.detail.contains("9999"), "{}", err.detail);
    }

    /// Debug output of the configuration, the key and the CA never holds
    /// the PIN.
    #[test]
    fn pin_is_never_in_debug_output() {
        let t = token_ca("pool", KeyKind::EcdsaP256);
        let token = softhsm_token("pool");
        let texts = [
            format!("{token:?}"),
            format!("{:?}", KeySource::Token(token.clone())),
            format!("{:?}", t.ca.issuer().key()),
            format!("{:?}", t.ca),
            format!("{:#?}", token.pin),
        ];
        for text in texts {
            assert!(!text.contains(TOKEN_PIN), "{text}");
        }
        assert!(format!("{token:?}").contains("redacted"));

        // Signatures from several threads at once go through the pool.
        std::thread::scope(|s| {
            for i in 0..6 {
                let t = &t;
                s.spawn(move || {
                    let leaf = KeyPair::generate().unwrap();
                    let name = format!("pool{i}.example.com");
                    let issued =
                        t.ca.sign(&spec(&[&name], leaf.subject_public_key_info()))
                            .unwrap();
                    assert!(!issued.der.is_empty());
                });
            }
        });
    }
}
