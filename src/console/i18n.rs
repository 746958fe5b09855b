//! The console's words in Japanese and English, and which one a request
//! gets: the `tg_lang` cookie (the switch), else Accept-Language.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

pub const LANG_COOKIE: &str = "tg_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other one, which the switch offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    /// The cookie if set, else the preferred of ja/en in Accept-Language
    /// (by q-value), else Japanese: the desk is in Japan.
    pub fn pick(cookie: Option<&str>, accept: Option<&str>) -> Lang {
        if let Some(l) = cookie.and_then(Lang::parse) {
            return l;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.unwrap_or_default().split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("ja") => Lang::Ja,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Ja, |(_, l)| l)
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

/// Every word the pages show, in one language.
pub struct Text {
    pub lang_name: &'static str,
    pub console: &'static str,
    pub login_title: &'static str,
    pub name: &'static str,
    pub password: &'static str,
    pub totp: &'static str,
    pub sign_in: &'static str,
    pub login_failed: &'static str,
    pub too_many: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub queue: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub status: &'static str,
    pub organization: &'static str,
    pub level: &'static str,
    pub blockers: &'static str,
    pub created: &'static str,
    pub nothing: &'static str,
    pub next_page: &'static str,
    pub expiring: &'static str,
    pub ready: &'static str,
    pub application: &'static str,
    pub field: &'static str,
    pub value: &'static str,
    pub checks: &'static str,
    pub kind: &'static str,
    pub result: &'static str,
    pub details: &'static str,
    pub recorded_by: &'static str,
    pub performed_at: &'static str,
    pub recorded_at: &'static str,
    pub passed: &'static str,
    pub failed: &'static str,
    pub accounts: &'static str,
    pub eab: &'static str,
    pub certificates: &'static str,
    pub serial: &'static str,
    pub not_after: &'static str,
    pub revoked: &'static str,
    pub valid: &'static str,
    pub audit: &'static str,
    pub when: &'static str,
    pub actor: &'static str,
    pub action: &'static str,
    pub reason: &'static str,
    pub decide: &'static str,
    pub approval_needs: &'static str,
    pub refused: &'static str,
    pub forbidden: &'static str,
    pub csrf_refused: &'static str,
    pub not_found: &'static str,
    pub back: &'static str,
    pub approved_by: &'static str,
    pub vetted_at: &'static str,
    pub transitions: [(&'static str, &'static str); 4],
    pub record_check: &'static str,
    pub record: &'static str,
    pub source: &'static str,
    pub reference: &'static str,
    pub notes: &'static str,
    pub number_called: &'static str,
    pub number_source: &'static str,
    pub person_reached: &'static str,
    pub eab_create: &'static str,
    pub eab_note: &'static str,
    pub single_use: &'static str,
    pub expires_days: &'static str,
    pub create: &'static str,
    pub eab_created: &'static str,
    pub key_once: &'static str,
    pub certbot_hint: &'static str,
    pub sources: [(&'static str, &'static str); 4],
    pub password_title: &'static str,
    pub password_why: &'static str,
    pub new_password: &'static str,
    pub new_again: &'static str,
    pub passwords_differ: &'static str,
    pub change: &'static str,
    // The audit log and health pages.
    pub audit_log: &'static str,
    pub health: &'static str,
    pub times_utc: &'static str,
    pub actor_hint: &'static str,
    pub organization_id: &'static str,
    pub any: &'static str,
    pub date_from: &'static str,
    pub date_to: &'static str,
    pub apply_filter: &'static str,
    pub clear_filter: &'static str,
    pub export_csv: &'static str,
    pub newest_first: &'static str,
    pub all_certificates: &'static str,
    pub subject: &'static str,
    pub event_details: &'static str,
    pub request_id: &'static str,
    pub newest_page: &'static str,
    pub older_page: &'static str,
    pub unknown_actor: &'static str,
    pub bad_organization: &'static str,
    pub bad_date: &'static str,
    pub to_before_from: &'static str,
    pub export_too_large: &'static str,
    pub as_of: &'static str,
    pub readiness: &'static str,
    pub ready_yes: &'static str,
    pub ready_no: &'static str,
    pub check: &'static str,
    pub ok: &'static str,
    pub failed_check: &'static str,
    pub queues: &'static str,
    pub pending_organizations: &'static str,
    pub blocked_orders: &'static str,
    pub processing_orders: &'static str,
    pub processing_challenges: &'static str,
    pub precertificates_without_final: &'static str,
    pub store_unavailable: &'static str,
    pub crls: &'static str,
    pub crl_hint: &'static str,
    pub shard: &'static str,
    pub crl_number: &'static str,
    pub crl_ok: &'static str,
    pub crl_near: &'static str,
    pub crl_overdue: &'static str,
    pub crl_missing: &'static str,
}

impl Text {
    /// The label of a transition button.
    pub fn transition(&self, t: &str) -> &'static str {
        self.transitions
            .iter()
            .find(|(k, _)| *k == t)
            .map_or("?", |(_, v)| v)
    }
}

pub static JA: Text = Text {
    lang_name: "日本語",
    console: "trustgate 審査コンソール",
    login_title: "スタッフログイン",
    name: "スタッフ名",
    password: "パスワード",
    totp: "ワンタイムコード（TOTP）",
    sign_in: "ログイン",
    login_failed: "ログインできませんでした。名前、パスワード、コードを確認してください。",
    too_many: "試行回数が多すぎます。しばらくしてから再度お試しください。",
    logout: "ログアウト",
    signed_in_as: "ログイン中",
    queue: "審査キュー",
    search: "検索",
    search_hint: "組織名・TDB企業コード・法人番号・ドメイン",
    status: "状態",
    organization: "組織",
    level: "種別",
    blockers: "承認を妨げているもの",
    created: "申請日時",
    nothing: "該当なし",
    next_page: "次のページ",
    expiring: "審査の有効期限が近い",
    ready: "承認可能",
    application: "申請内容",
    field: "項目",
    value: "内容",
    checks: "審査記録",
    kind: "種類",
    result: "結果",
    details: "情報源・参照",
    recorded_by: "記録者",
    performed_at: "実施日時",
    recorded_at: "記録日時",
    passed: "合格",
    failed: "不合格",
    accounts: "ACMEアカウント",
    eab: "EAB認証情報",
    certificates: "証明書",
    serial: "シリアル番号",
    not_after: "有効期限",
    revoked: "失効",
    valid: "有効",
    audit: "監査ログ",
    when: "日時",
    actor: "実行者",
    action: "操作",
    reason: "理由",
    decide: "審査の判断",
    approval_needs: "承認に必要なもの",
    refused: "拒否されました",
    forbidden: "この操作の権限がありません。",
    csrf_refused: "フォームの確認トークンが無効です。ページを再読み込みしてください。",
    not_found: "見つかりません。",
    back: "審査キューへ戻る",
    approved_by: "承認者",
    vetted_at: "審査日",
    transitions: [
        ("approve", "承認"),
        ("reject", "却下"),
        ("suspend", "一時停止"),
        ("reinstate", "再開"),
    ],
    record_check: "審査の記録",
    record: "記録する",
    source: "情報源",
    reference: "参照（コード・取得日など）",
    notes: "備考",
    number_called: "架電した番号",
    number_source: "番号の入手元",
    person_reached: "応対者",
    eab_create: "EAB認証情報の発行",
    eab_note: "メモ",
    single_use: "1アカウントのみ",
    expires_days: "有効日数（空欄は無期限）",
    create: "発行する",
    eab_created: "EAB認証情報を発行しました",
    key_once: "HMACキーはこの画面でのみ表示されます。今すぐ申請者に安全な方法で渡してください。",
    certbot_hint: "certbot での使い方",
    sources: [
        ("tdb", "帝国データバンク"),
        ("ntt104", "NTT番号案内（104）"),
        ("commercial_registry", "商業登記"),
        ("other", "その他"),
    ],
    password_title: "パスワードの変更",
    password_why: "発行された一時パスワードでログインしています。続ける前に新しいパスワード（12文字以上）を設定してください。",
    new_password: "新しいパスワード",
    new_again: "新しいパスワード（確認）",
    passwords_differ: "2つのパスワードが一致しません。",
    change: "変更する",
    // The audit log and health pages.
    audit_log: "監査ログ",
    health: "稼働状況",
    times_utc: "日時はすべてUTC（協定世界時）です。",
    actor_hint: "スタッフ名、account/番号、system",
    organization_id: "組織ID",
    any: "すべて",
    date_from: "開始日（UTC）",
    date_to: "終了日（UTC、その日を含む）",
    apply_filter: "絞り込む",
    clear_filter: "条件をクリア",
    export_csv: "CSVで出力",
    newest_first: "新しい順",
    all_certificates: "この組織の証明書をすべて表示",
    subject: "対象",
    event_details: "詳細",
    request_id: "リクエストID",
    newest_page: "最新へ",
    older_page: "さらに古いもの",
    unknown_actor: "該当するスタッフがいません。スタッフ名、account/番号、system、または記録どおりの実行者を入力してください。",
    bad_organization: "組織IDは数字で入力してください。",
    bad_date: "日付はYYYY-MM-DDの形式で入力してください。",
    to_before_from: "終了日が開始日より前です。",
    export_too_large: "該当するイベントが{max}件を超えるため出力できません。期間を短くして分けて出力するか、管理APIの GET /admin/audit?format=jsonl を使ってください。",
    as_of: "時点：",
    readiness: "準備状態（/readyz）",
    ready_yes: "準備完了：ACMEを受け付けられます。",
    ready_no: "準備未完了：ACMEを受け付けられません。",
    check: "確認項目",
    ok: "正常",
    failed_check: "異常",
    queues: "待ち件数",
    pending_organizations: "審査待ちの組織",
    blocked_orders: "審査ゲートで止まっている注文",
    processing_orders: "処理中（processing）の注文",
    processing_challenges: "検証中（processing）のチャレンジ",
    precertificates_without_final: "最終証明書のないプレ証明書",
    store_unavailable: "データベースが応答しないため件数を表示できません。",
    crls: "CRL（失効リスト）",
    crl_hint: "CRLは有効期間の半分が過ぎると再発行されます。「期限間近」は再発行が遅れていることを示します。",
    shard: "シャード",
    crl_number: "CRL番号",
    crl_ok: "正常",
    crl_near: "期限間近：再発行の遅れ",
    crl_overdue: "期限切れ：nextUpdateを過ぎています",
    crl_missing: "未発行",
};

pub static EN: Text = Text {
    lang_name: "English",
    console: "trustgate vetting console",
    login_title: "Staff login",
    name: "Staff name",
    password: "Password",
    totp: "One-time code (TOTP)",
    sign_in: "Sign in",
    login_failed: "Login failed. Check the name, the password and the code.",
    too_many: "Too many attempts. Try again later.",
    logout: "Sign out",
    signed_in_as: "Signed in as",
    queue: "Vetting queue",
    search: "Search",
    search_hint: "name, TDB code, corporate number or domain",
    status: "Status",
    organization: "Organization",
    level: "Level",
    blockers: "What blocks approval",
    created: "Applied",
    nothing: "None",
    next_page: "Next page",
    expiring: "vetting expires soon",
    ready: "ready for approval",
    application: "Application",
    field: "Field",
    value: "Value",
    checks: "Checks",
    kind: "Kind",
    result: "Result",
    details: "Source and reference",
    recorded_by: "Recorded by",
    performed_at: "Performed",
    recorded_at: "Recorded",
    passed: "passed",
    failed: "failed",
    accounts: "ACME accounts",
    eab: "EAB credentials",
    certificates: "Certificates",
    serial: "Serial",
    not_after: "Not after",
    revoked: "revoked",
    valid: "valid",
    audit: "Audit trail",
    when: "When",
    actor: "Actor",
    action: "Action",
    reason: "Reason",
    decide: "Decision",
    approval_needs: "Approval still needs",
    refused: "Refused",
    forbidden: "You do not have the role this needs.",
    csrf_refused: "The form's token is missing or wrong. Reload the page.",
    not_found: "Not found.",
    back: "Back to the queue",
    approved_by: "Approved by",
    vetted_at: "Vetted",
    transitions: [
        ("approve", "Approve"),
        ("reject", "Reject"),
        ("suspend", "Suspend"),
        ("reinstate", "Reinstate"),
    ],
    record_check: "Record a check",
    record: "Record",
    source: "Source",
    reference: "Reference (code, date obtained)",
    notes: "Notes",
    number_called: "Number called",
    number_source: "Where the number came from",
    person_reached: "Person reached",
    eab_create: "New EAB credential",
    eab_note: "Note",
    single_use: "One account only",
    expires_days: "Valid for days (empty: no expiry)",
    create: "Create",
    eab_created: "EAB credential created",
    key_once: "The HMAC key is shown only on this page. Hand it to the applicant securely now.",
    certbot_hint: "With certbot",
    sources: [
        ("tdb", "Teikoku Databank"),
        ("ntt104", "NTT directory (104)"),
        ("commercial_registry", "Commercial registry"),
        ("other", "Other"),
    ],
    password_title: "Change your password",
    password_why: "You signed in with a one-time password. Set your own (12 characters or more) before going on.",
    new_password: "New password",
    new_again: "New password again",
    passwords_differ: "The two passwords differ.",
    change: "Change",
    // The audit log and health pages.
    audit_log: "Audit log",
    health: "Health",
    times_utc: "All times are in UTC.",
    actor_hint: "staff name, account/ID or system",
    organization_id: "Organization ID",
    any: "any",
    date_from: "From (UTC date)",
    date_to: "To (UTC date, inclusive)",
    apply_filter: "Filter",
    clear_filter: "Clear",
    export_csv: "Export CSV",
    newest_first: "newest first",
    all_certificates: "All of this organization's certificates",
    subject: "Subject",
    event_details: "Details",
    request_id: "Request ID",
    newest_page: "Newest",
    older_page: "Older",
    unknown_actor: "No staff member of that name. Enter a staff name, account/ID, system, or an actor as the log writes it.",
    bad_organization: "The organization ID is a number.",
    bad_date: "Enter the date as YYYY-MM-DD.",
    to_before_from: "The end date is before the start date.",
    export_too_large: "More than {max} events match: the export is refused rather than cut short. Narrow the dates and export in parts, or use the admin API's GET /admin/audit?format=jsonl.",
    as_of: "As of",
    readiness: "Readiness (/readyz)",
    ready_yes: "Ready: serving ACME.",
    ready_no: "NOT READY: not serving ACME.",
    check: "Check",
    ok: "ok",
    failed_check: "FAILED",
    queues: "Queues",
    pending_organizations: "Organizations pending vetting",
    blocked_orders: "Orders blocked at the vetting gate",
    processing_orders: "Orders processing",
    processing_challenges: "Challenges processing",
    precertificates_without_final: "Precertificates without a final certificate",
    store_unavailable: "The database did not answer: no counts.",
    crls: "CRLs",
    crl_hint: "A CRL is reissued once half its validity has passed: \"due\" means the reissue is late.",
    shard: "Shard",
    crl_number: "CRL number",
    crl_ok: "ok",
    crl_near: "DUE: reissue is late",
    crl_overdue: "OVERDUE: past nextUpdate",
    crl_missing: "MISSING: never published",
};

/// The application form's Japanese name of a field of
/// `OrganizationData` (dotted JSON path; array indexes dropped).
pub fn field_label(path: &str) -> &'static str {
    let key: String = path
        .split('.')
        .filter(|s| s.parse::<usize>().is_err())
        .collect::<Vec<_>>()
        .join(".");
    let last = key.rsplit('.').next().unwrap_or_default();
    match key.as_str() {
        "legal_name" => "組織名",
        "english_name" => "英文組織名",
        "use_english_name" => "証明書に英文名を使用",
        "tdb_code" => "TDB企業コード",
        "registration_number" => "会社法人等番号",
        "corporate_number" => "法人番号",
        "level" => "証明書種別",
        "representative.name" => "代表者氏名",
        "representative.title" => "代表者役職",
        "applicant.rank" => "申請責任者の職位区分",
        "billing_contact.party" => "請求先",
        "domains.name" => "ドメイン名",
        "domains.exact" => "完全一致のみ",
        _ => match last {
            "country" => "国",
            "prefecture" => "都道府県",
            "locality" => "市区町村",
            "postal_code" => "郵便番号",
            "street" => "番地",
            "address" => "住所",
            "name" => "氏名",
            "title" => "役職",
            "department" => "部署",
            "organization" => "会社名",
            "phone" => "電話番号",
            "fax" => "FAX番号",
            "email" => "メールアドレス",
            _ => "",
        },
    }
}

/// The Japanese name of the section a field belongs to.
pub fn section_label(path: &str) -> &'static str {
    match path.split('.').next().unwrap_or_default() {
        "head_office" => "本店登記住所",
        "office" => "事業所所在地住所",
        "representative" => "代表者",
        "applicant" => "申請責任者",
        "account_contact" => "アカウント担当者",
        "billing_contact" => "請求書担当者",
        "ev" => "EV情報",
        "domains" => "ドメイン",
        _ => "",
    }
}

/// The certificates pages' words (`console::certificates`).
pub struct CertText {
    pub title: &'static str,
    pub certificate: &'static str,
    pub serial_label: &'static str,
    pub serial_hint: &'static str,
    pub name_label: &'static str,
    pub org_label: &'static str,
    pub org_hint: &'static str,
    pub from_label: &'static str,
    pub until_label: &'static str,
    pub names: &'static str,
    pub issued: &'static str,
    pub not_before: &'static str,
    pub subject: &'static str,
    pub issuer: &'static str,
    pub account: &'static str,
    pub order: &'static str,
    pub revoked_at: &'static str,
    pub reason_code: &'static str,
    pub reason_text: &'static str,
    pub download_cert: &'static str,
    pub download_chain: &'static str,
    pub revoke: &'static str,
    pub confirm: &'static str,
    pub revoked_notice: &'static str,
    pub evidence: &'static str,
    pub method: &'static str,
    pub reused: &'static str,
    pub validated_at: &'static str,
    pub records: &'static str,
    pub perspectives: &'static str,
    pub no_perspectives: &'static str,
    pub caa_checked: &'static str,
    pub caa_perspectives: &'static str,
    pub dnssec_off: &'static str,
    pub bad_serial: &'static str,
    pub bad_name: &'static str,
    pub bad_date: &'static str,
    pub bad_code: &'static str,
    pub reason_required: &'static str,
    pub confirm_required: &'static str,
    pub already_revoked: &'static str,
}

impl Lang {
    pub fn certs(self) -> &'static CertText {
        match self {
            Lang::Ja => &CERTS_JA,
            Lang::En => &CERTS_EN,
        }
    }
}

pub static CERTS_JA: CertText = CertText {
    title: "証明書",
    certificate: "証明書",
    serial_label: "シリアル番号",
    serial_hint: "16進（コロン可）",
    name_label: "DNS名",
    org_label: "組織",
    org_hint: "組織名の一部または組織ID",
    from_label: "発行日（から）",
    until_label: "発行日（まで）",
    names: "DNS名",
    issued: "発行日時",
    not_before: "有効期間の開始",
    subject: "主体者（Subject）",
    issuer: "発行者（Issuer）",
    account: "ACMEアカウント",
    order: "オーダー",
    revoked_at: "失効日時",
    reason_code: "失効理由コード",
    reason_text: "失効の理由（監査ログに記録）",
    download_cert: "証明書（PEM）をダウンロード",
    download_chain: "チェーン（証明書＋中間CA、PEM）をダウンロード",
    revoke: "この証明書を失効させる",
    confirm: "この証明書を失効させることを確認しました（取り消せません）",
    revoked_notice: "証明書を失効させました。",
    evidence: "発行の根拠",
    method: "ドメイン検証方法",
    reused: "以前の検証を再利用",
    validated_at: "検証日時",
    records: "検証記録",
    perspectives: "リモート検証拠点",
    no_perspectives: "なし（リモート検証拠点は未設定）",
    caa_checked: "CAA確認日時",
    caa_perspectives: "CAA（リモート検証拠点）",
    dnssec_off: "記録なし（DNSSEC検証は無効）",
    bad_serial: "シリアル番号は16進数で入力してください（コロン・空白は可）。",
    bad_name: "DNS名として正しくありません。",
    bad_date: "日付は YYYY-MM-DD で入力してください。",
    bad_code: "一覧にある失効理由コードを選んでください。",
    reason_required: "失効の理由を入力してください。",
    confirm_required: "失効させることを確認してください。",
    already_revoked: "この証明書はすでに失効しています。",
};

pub static CERTS_EN: CertText = CertText {
    title: "Certificates",
    certificate: "Certificate",
    serial_label: "Serial number",
    serial_hint: "hex, colons allowed",
    name_label: "DNS name",
    org_label: "Organization",
    org_hint: "part of its name, or its id",
    from_label: "Issued from",
    until_label: "Issued until",
    names: "DNS names",
    issued: "Issued",
    not_before: "Not before",
    subject: "Subject",
    issuer: "Issuer",
    account: "ACME account",
    order: "Order",
    revoked_at: "Revoked at",
    reason_code: "Reason code",
    reason_text: "Why (recorded in the audit log)",
    download_cert: "Download the certificate (PEM)",
    download_chain: "Download the chain (certificate + intermediate, PEM)",
    revoke: "Revoke this certificate",
    confirm: "I confirm this certificate is to be revoked (this cannot be undone)",
    revoked_notice: "The certificate is revoked.",
    evidence: "What it was issued on",
    method: "Domain validation method",
    reused: "an earlier validation, reused",
    validated_at: "Validated at",
    records: "Validation records",
    perspectives: "Remote perspectives",
    no_perspectives: "none (no remote perspectives configured)",
    caa_checked: "CAA checked at",
    caa_perspectives: "CAA at the remote perspectives",
    dnssec_off: "not recorded (DNSSEC validation off)",
    bad_serial: "Enter the serial in hex (colons and spaces are fine).",
    bad_name: "This is not a valid DNS name.",
    bad_date: "Enter the date as YYYY-MM-DD.",
    bad_code: "Choose a reason code from the list.",
    reason_required: "Say why the certificate is revoked.",
    confirm_required: "Confirm that the certificate is to be revoked.",
    already_revoked: "This certificate is already revoked.",
};

// --- The organization page's forms: editing the application, the EV
// checks with nested records, revoking an EAB credential. ---

/// The words of the organization page's forms, in one language.
pub struct OrgText {
    pub new_title: &'static str,
    pub new_hint: &'static str,
    pub register: &'static str,
    pub edit_title: &'static str,
    pub edit_hint: &'static str,
    pub save: &'static str,
    pub fix_fields: &'static str,
    pub no_change: &'static str,
    pub ev_checks: &'static str,
    pub choose: &'static str,
    pub revoke: &'static str,
    pub revoke_title: &'static str,
    pub revoke_accounts: &'static str,
    pub revoke_no_accounts: &'static str,
    pub revoke_confirm: &'static str,
    pub reason_required: &'static str,
    pub cancel: &'static str,
    pub already_revoked: &'static str,
    pub groups: [(&'static str, &'static str); 9],
}

impl Lang {
    pub fn org(self) -> &'static OrgText {
        match self {
            Lang::Ja => &ORG_JA,
            Lang::En => &ORG_EN,
        }
    }

    /// The label of a form field (its JSON path) or of a choice's value.
    pub fn label(self, key: &str) -> &'static str {
        LABELS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or("", |(_, ja, en)| if self == Lang::Ja { *ja } else { *en })
    }
}

pub static ORG_JA: OrgText = OrgText {
    new_title: "組織の新規登録",
    new_hint: "紙または電子メールで受け付けた申込書の内容を入力します。登録した組織は「審査中」となり、審査の記録と承認を待ちます。",
    register: "登録する",
    edit_title: "申請内容の編集",
    edit_hint:
        "保存すると組織は「審査中」に戻り、記録済みの審査はすべて記録し直しが必要になります。",
    save: "保存する",
    fix_fields: "入力内容を確認してください。",
    no_change: "変更がないため保存しませんでした。",
    ev_checks: "EV審査項目",
    choose: "選択肢から選んでください",
    revoke: "失効",
    revoke_title: "EAB認証情報の失効",
    revoke_accounts: "この認証情報で登録された次のACMEアカウントも無効化されます:",
    revoke_no_accounts: "この認証情報で登録された有効なACMEアカウントはありません。",
    revoke_confirm: "失効する",
    reason_required: "理由を入力してください",
    cancel: "取り消して戻る",
    already_revoked: "この認証情報は失効済みです。",
    groups: [
        ("organization", "組織"),
        ("head_office", "本店登記住所"),
        ("office", "事業所所在地住所"),
        ("representative", "代表者"),
        ("applicant", "申請責任者"),
        ("account_contact", "アカウント担当者"),
        ("billing_contact", "請求書担当者"),
        ("ev", "EV情報"),
        ("domains", "ドメイン"),
    ],
};

pub static ORG_EN: OrgText = OrgText {
    new_title: "New organization",
    new_hint: "Enter an application received on paper or by e-mail. The organization starts pending: its checks are recorded and it is approved as any other.",
    register: "Register",
    edit_title: "Edit the application",
    edit_hint: "Saving sends the organization back to pending; every check must be recorded again.",
    save: "Save",
    fix_fields: "Check the marked fields.",
    no_change: "Nothing changed, so nothing was saved.",
    ev_checks: "EV checks",
    choose: "choose one of the options",
    revoke: "Revoke",
    revoke_title: "Revoke an EAB credential",
    revoke_accounts: "These ACME accounts, bound through it, will be deactivated:",
    revoke_no_accounts: "No valid ACME account is bound through this credential.",
    revoke_confirm: "Revoke",
    reason_required: "a reason is required",
    cancel: "Cancel",
    already_revoked: "This credential is revoked already.",
    groups: [
        ("organization", "Organization"),
        ("head_office", "Registered head office"),
        ("office", "Place of business"),
        ("representative", "Representative"),
        ("applicant", "Applicant"),
        ("account_contact", "Account contact"),
        ("billing_contact", "Billing contact"),
        ("ev", "EV"),
        ("domains", "Domains"),
    ],
};

/// (field path or choice value, Japanese, English).
static LABELS: &[(&str, &str, &str)] = &[
    ("legal_name", "組織名", "Legal name"),
    ("english_name", "英文組織名", "English name"),
    (
        "use_english_name",
        "証明書に英文名を使用",
        "Use the English name in certificates",
    ),
    ("tdb_code", "TDB企業コード", "TDB company code"),
    (
        "registration_number",
        "会社法人等番号",
        "Registration number (会社法人等番号)",
    ),
    (
        "corporate_number",
        "法人番号",
        "Corporate number (法人番号)",
    ),
    ("level", "証明書種別", "Level"),
    (
        "country",
        "国（ISO 3166 2文字）",
        "Country (ISO 3166 alpha-2)",
    ),
    ("prefecture", "都道府県", "Prefecture"),
    ("locality", "市区町村", "Locality"),
    ("postal_code", "郵便番号", "Postal code"),
    ("street", "番地", "Street"),
    ("name", "氏名", "Name"),
    ("title", "役職", "Title"),
    ("department", "部署", "Department"),
    ("organization", "会社名", "Company"),
    ("address", "住所", "Address"),
    ("phone", "電話番号", "Telephone"),
    ("fax", "FAX番号", "Fax"),
    ("email", "メールアドレス", "E-mail"),
    ("applicant.rank", "職位区分", "Rank"),
    ("billing_contact.party", "請求先", "Invoices go to"),
    (
        "ev.business_category",
        "ビジネスカテゴリ",
        "Business category",
    ),
    (
        "ev.jurisdiction_country",
        "設立管轄の国",
        "Jurisdiction: country",
    ),
    (
        "ev.jurisdiction_state_or_province",
        "設立管轄の都道府県",
        "Jurisdiction: state or province",
    ),
    (
        "ev.jurisdiction_locality",
        "設立管轄の市区町村",
        "Jurisdiction: locality",
    ),
    (
        "domains",
        "ドメイン（サブドメインを含む）",
        "Domains (with every name under them)",
    ),
    (
        "domains_exact",
        "完全一致のみのドメイン名",
        "Exact names only",
    ),
    // EV checks
    ("passed", "結果", "Result"),
    ("notes", "備考", "Notes"),
    (
        "reference",
        "参照（資料・番号・取得日）",
        "Reference (document, number, date obtained)",
    ),
    ("source", "情報源", "Source"),
    ("method", "確認方法", "Method"),
    (
        "ev_place_of_business.address",
        "確認した事業所の住所",
        "Address as verified",
    ),
    ("evidence.type", "証拠の種類", "Evidence"),
    (
        "evidence.registered_on",
        "設立・登記日（3年以上前; YYYY-MM-DD）",
        "Registered on (three years or more; YYYY-MM-DD)",
    ),
    (
        "evidence.institution",
        "金融機関名（預金口座の場合）",
        "Financial institution (deposit account)",
    ),
    (
        "evidence.author",
        "作成者（専門家の確認書の場合）",
        "Author (professional letter)",
    ),
    ("method.channel", "連絡手段", "Channel"),
    ("method.number", "電話・FAX番号", "Telephone or fax number"),
    (
        "method.address",
        "メールアドレス・郵送先住所",
        "E-mail or postal address",
    ),
    (
        "matched_in",
        "事業所との照合に用いた情報源",
        "Matched to the place of business in",
    ),
    (
        "affirmative_response",
        "肯定応答（応答者と確認内容）",
        "Affirmative response (who answered, what they confirmed)",
    ),
    (
        "contract_signer.name",
        "契約署名者の氏名",
        "Contract signer: name",
    ),
    (
        "contract_signer.title",
        "契約署名者の役職",
        "Contract signer: title",
    ),
    (
        "certificate_approver.name",
        "証明書承認者の氏名",
        "Certificate approver: name",
    ),
    (
        "certificate_approver.title",
        "証明書承認者の役職",
        "Certificate approver: title",
    ),
    ("agency_method", "代理関係の確認方法", "Agency verified by"),
    (
        "authority_method",
        "権限の確認方法",
        "Authority verified by",
    ),
    ("lists", "照合したリスト", "Lists screened against"),
    ("screened", "照合した対象", "Parties screened"),
    ("result", "照合結果", "Result"),
    // choices
    ("true", "合格", "passed"),
    ("false", "不合格", "failed"),
    ("ov", "OV", "OV"),
    ("ev", "EV", "EV"),
    ("manager", "課長相当", "Manager (課長)"),
    ("senior_manager", "部長相当", "Senior manager (部長)"),
    ("officer", "取締役・執行役員", "Officer (取締役, 執行役員)"),
    (
        "representative",
        "代表取締役等",
        "Representative (代表取締役)",
    ),
    (
        "billing_contact.party.organization",
        "申請組織",
        "The organization",
    ),
    ("account_contact", "アカウント担当者", "The account contact"),
    ("method.channel.email", "メール", "E-mail"),
    ("other", "その他", "Other"),
    (
        "Private Organization",
        "Private Organization（私企業）",
        "Private Organization",
    ),
    (
        "Government Entity",
        "Government Entity（政府機関）",
        "Government Entity",
    ),
    (
        "Business Entity",
        "Business Entity（事業体）",
        "Business Entity",
    ),
    (
        "Non-Commercial Entity",
        "Non-Commercial Entity（非営利団体）",
        "Non-Commercial Entity",
    ),
    ("tdb", "帝国データバンク", "Teikoku Databank"),
    ("ntt104", "NTT番号案内（104）", "NTT directory (104)"),
    ("commercial_registry", "商業登記", "Commercial registry"),
    (
        "qgis_of_registration",
        "設立確認に用いた公的情報源の住所",
        "The address in the QGIS of registration",
    ),
    (
        "independent_listing",
        "他の公的・独立情報源での掲載",
        "Listed in another QGIS, QIIS or QTIS",
    ),
    ("site_visit", "現地確認", "Site visit"),
    (
        "verified_professional_letter",
        "専門家の確認書",
        "Verified professional letter",
    ),
    (
        "three_years_registered",
        "設立から3年以上（登記）",
        "Registered three years or more",
    ),
    (
        "current_listing",
        "現行の独立情報源に掲載",
        "Listed in a current QIIS or QTIS",
    ),
    (
        "demand_deposit_account",
        "金融機関の要求払預金口座",
        "Demand deposit account",
    ),
    ("telephone", "電話", "Telephone"),
    ("postal", "郵送", "Post"),
    ("phone_company", "電話会社の記録", "Phone company records"),
    ("qgis", "公的情報源（QGIS）", "QGIS"),
    ("qtis", "税務情報源（QTIS）", "QTIS"),
    ("qiis", "独立情報源（QIIS）", "QIIS"),
    (
        "verified_communication",
        "確認済み連絡手段での申請者の確認",
        "Confirmed by the applicant through a verified method of communication",
    ),
    (
        "independent_confirmation",
        "申請者からの独立確認",
        "Independent confirmation from the applicant",
    ),
    ("qiis_or_qgis", "QIIS・QGISでの確認", "A QIIS or QGIS"),
    (
        "contract_signer_certification",
        "契約署名者による証明",
        "Certified by the verified contract signer",
    ),
    (
        "corporate_resolution",
        "取締役会決議等",
        "Corporate resolution",
    ),
    ("contract_with_ca", "CAとの契約書", "A contract with the CA"),
    (
        "prior_equivalent_authority",
        "過去の同等の権限",
        "Prior equivalent authority",
    ),
    (
        "contract_signer_representation",
        "契約署名者の表明保証",
        "The contract signer's representation",
    ),
    (
        "meti_end_user_list",
        "経済産業省 外国ユーザーリスト",
        "METI End User List",
    ),
    (
        "mof_sanctions_list",
        "財務省 経済制裁対象者リスト",
        "MOF sanctions list",
    ),
    ("ofac_sdn", "米国OFAC SDNリスト", "OFAC SDN"),
    (
        "bis_denied_persons",
        "米国BIS Denied Persons List",
        "BIS Denied Persons List",
    ),
    ("bis_entity_list", "米国BIS Entity List", "BIS Entity List"),
    (
        "un_consolidated",
        "国連安保理統合リスト",
        "UN consolidated list",
    ),
    (
        "ca_high_risk",
        "当CAの高リスクリスト",
        "The CA's high-risk list",
    ),
    ("applicant", "申請者", "Applicant"),
    ("contract_signer", "契約署名者", "Contract signer"),
    (
        "certificate_approver",
        "証明書承認者",
        "Certificate approver",
    ),
    ("jurisdiction", "設立管轄", "Jurisdiction of incorporation"),
    ("place_of_business", "事業所の所在国", "Place of business"),
    ("no_match", "該当なし", "No match"),
    ("match", "該当の可能性あり", "Possible or confirmed match"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_then_accept_language_by_q() {
        assert_eq!(Lang::pick(Some("en"), Some("ja")), Lang::En);
        assert_eq!(Lang::pick(None, Some("en-US,en;q=0.9,ja;q=0.8")), Lang::En);
        assert_eq!(Lang::pick(None, Some("en;q=0.5, ja-JP")), Lang::Ja);
        assert_eq!(Lang::pick(None, Some("fr")), Lang::Ja);
        assert_eq!(Lang::pick(Some("xx"), None), Lang::Ja);
    }

    #[test]
    fn fields_have_their_japanese_names() {
        assert_eq!(field_label("legal_name"), "組織名");
        assert_eq!(field_label("head_office.prefecture"), "都道府県");
        assert_eq!(section_label("head_office.prefecture"), "本店登記住所");
        assert_eq!(field_label("domains.0.name"), "ドメイン名");
    }
}
