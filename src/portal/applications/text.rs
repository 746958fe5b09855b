//! The application pages' words in Japanese and English.

use crate::vetting::documents::DocumentProblem;

use super::super::i18n::Lang;

pub struct AppWords {
    pub new_title: &'static str,
    pub new_intro: &'static str,
    pub submit: &'static str,
    pub renew_title: &'static str,
    pub renew_intro: &'static str,
    pub renew_submit: &'static str,
    pub renew_not_yet: &'static str,
    pub billing_hint: &'static str,
    pub certificate: &'static str,
    pub validity: &'static str,
    pub validity_hint: &'static str,
    pub fix_fields: &'static str,
    pub application_title: &'static str,
    pub confirmation_title: &'static str,
    pub confirmation_link: &'static str,
    pub print_hint: &'static str,
    pub number: &'static str,
    pub kind_label: &'static str,
    pub state_label: &'static str,
    pub submitted: &'static str,
    pub agreement_version: &'static str,
    pub applicant_email: &'static str,
    pub domains: &'static str,
    pub exact: &'static str,
    pub with_subdomains: &'static str,
    pub history: &'static str,
    pub when: &'static str,
    pub what: &'static str,
    pub message: &'static str,
    pub reason: &'static str,
    pub status_title: &'static str,
    pub no_application: &'static str,
    pub vetting_until: &'static str,
    pub applications: &'static str,
    pub to_documents: &'static str,
    pub to_renew: &'static str,
    pub documents_title: &'static str,
    pub documents_intro: &'static str,
    pub request_message: &'static str,
    pub nothing_requested: &'static str,
    pub files_label: &'static str,
    pub files_hint: &'static str,
    pub upload: &'static str,
    pub uploaded_note: &'static str,
    pub uploaded_list: &'static str,
    pub size: &'static str,
    pub choose_file: &'static str,
    pub too_many_files: &'static str,
    kinds: [(&'static str, &'static str); 2],
    application_states: [(&'static str, &'static str); 3],
    states: [(&'static str, &'static str); 8],
    events: [(&'static str, &'static str); 6],
    ja: bool,
}

pub fn words(l: Lang) -> &'static AppWords {
    match l {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

fn find(list: &[(&'static str, &'static str)], k: &str) -> &'static str {
    list.iter()
        .find(|(key, _)| *key == k)
        .map_or("", |(_, v)| v)
}

impl AppWords {
    pub fn kind(&self, k: &str) -> &'static str {
        find(&self.kinds, k)
    }
    pub fn application_state(&self, k: &str) -> &'static str {
        find(&self.application_states, k)
    }
    /// A status summary's headline.
    pub fn state(&self, k: &str) -> &'static str {
        find(&self.states, k)
    }
    pub fn event(&self, k: &str) -> &'static str {
        find(&self.events, k)
    }

    pub fn document_problem(&self, p: &DocumentProblem) -> String {
        match (p, self.ja) {
            (DocumentProblem::Empty, true) => "ファイルが空です。".into(),
            (DocumentProblem::TooLarge { limit }, true) => {
                format!("ファイルが大きすぎます ({} MiB まで)。", limit.div_ceil(1 << 20))
            }
            (DocumentProblem::TypeNotAccepted { .. }, true) => {
                "この形式のファイルは受け付けていません。PDF、PNG、JPEG のいずれかでお送りください。".into()
            }
            (DocumentProblem::ContentMismatch { .. }, true) => {
                "ファイルの中身が拡張子・形式と一致しません。".into()
            }
            (DocumentProblem::BadName, true) => "ファイル名を読み取れません。".into(),
            (p, false) => {
                let s = p.to_string();
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>() + ".")
                    .unwrap_or_default()
            }
        }
    }
}

static JA: AppWords = AppWords {
    new_title: "証明書のお申込み",
    new_intro: "証明書に記載する組織の情報、申請責任者、請求先を入力してください。送信すると当社の審査が始まります。",
    submit: "申し込む",
    renew_title: "お申込みの更新",
    renew_intro: "現在の登録内容です。変更がなければそのまま送信してください (審査済みの状態は期限まで続きます)。変更すると再審査となり、承認まで証明書を発行できません。",
    renew_submit: "更新を申し込む",
    renew_not_yet: "審査の有効期限の 30 日前から更新のお申込みができます。",
    billing_hint: "請求先が「組織」または「アカウント担当者」の場合、請求先の欄は入力不要です (その情報を使います)。",
    certificate: "証明書",
    validity: "希望する有効期間 (日)",
    validity_hint: "業界基準 (Baseline Requirements) の上限まで",
    fix_fields: "入力内容を確認してください。各項目の横に理由を表示しています。",
    application_title: "お申込み",
    confirmation_title: "お申込確認書",
    confirmation_link: "お申込確認書 (印刷用)",
    print_hint: "ブラウザの印刷機能で印刷してください。",
    number: "お申込番号",
    kind_label: "種別",
    state_label: "状態",
    submitted: "受付日時",
    agreement_version: "同意した利用規約の版",
    applicant_email: "お申込みのアカウント",
    domains: "ドメイン名の範囲",
    exact: "このドメイン名のみ",
    with_subdomains: "サブドメインを含む",
    history: "経過",
    when: "日時",
    what: "内容",
    message: "メッセージ",
    reason: "理由",
    status_title: "審査の状況",
    no_application: "まだお申込みがありません。",
    vetting_until: "審査の有効期限",
    applications: "お申込み一覧",
    to_documents: "書類を提出する",
    to_renew: "お申込みを更新する",
    documents_title: "書類の提出",
    documents_intro: "当社からの依頼に応じて、書類を PDF、PNG または JPEG でアップロードしてください。",
    request_message: "当社からのご依頼",
    nothing_requested: "現在、書類の提出をお願いしているものはありません。",
    files_label: "ファイル",
    files_hint: "PDF、PNG、JPEG。一度に 5 ファイルまで",
    upload: "アップロードする",
    uploaded_note: "書類を受け付けました。審査を続けます。",
    uploaded_list: "提出済みの書類",
    size: "サイズ (バイト)",
    choose_file: "ファイルを選んでください。",
    too_many_files: "一度にアップロードできるファイル数を超えています。",
    kinds: [("new", "新規"), ("renewal", "更新")],
    application_states: [("open", "審査中"), ("approved", "承認済み"), ("rejected", "お断り")],
    states: [
        ("received", "お申込みを受け付けました"),
        ("documents_requested", "書類の提出をお願いしています"),
        ("in_progress", "審査中です"),
        ("approved", "審査が完了しました (承認)"),
        ("expiring", "審査の有効期限が近づいています"),
        ("expired", "審査の有効期限が切れています"),
        ("rejected", "お申込みをお受けできませんでした"),
        ("suspended", "ご利用を一時停止しています"),
    ],
    events: [
        ("submitted", "お申込み受付"),
        ("documents_requested", "書類の提出依頼"),
        ("documents_uploaded", "書類の提出"),
        ("approved", "承認"),
        ("rejected", "お断り"),
        ("renewed", "更新のお申込み受付"),
    ],
    ja: true,
};

static EN: AppWords = AppWords {
    new_title: "Apply for certificates",
    new_intro: "Enter the organization the certificates will name, the applicant and who is billed. Sending the form starts our vetting.",
    submit: "Apply",
    renew_title: "Renew the application",
    renew_intro: "This is what we have on record. Send it unchanged to renew (the current approval lasts until it ends); any change is vetted again, and no certificate is issued until it is approved.",
    renew_submit: "Renew",
    renew_not_yet: "The application can be renewed from 30 days before the vetting ends.",
    billing_hint: "When the organization or the account contact is billed, leave the billing fields empty: their data is used.",
    certificate: "Certificates",
    validity: "Validity wanted (days)",
    validity_hint: "Up to the Baseline Requirements' limit",
    fix_fields: "Please check the form: each problem is shown beside its field.",
    application_title: "Application",
    confirmation_title: "Application confirmation",
    confirmation_link: "Application confirmation (printable)",
    print_hint: "Print it with your browser's print command.",
    number: "Application number",
    kind_label: "Kind",
    state_label: "State",
    submitted: "Received",
    agreement_version: "Subscriber agreement accepted (version)",
    applicant_email: "Applied from the account",
    domains: "Domain scope",
    exact: "this name only",
    with_subdomains: "with its subdomains",
    history: "History",
    when: "When",
    what: "What",
    message: "Message",
    reason: "Reason",
    status_title: "Vetting status",
    no_application: "You have not applied yet.",
    vetting_until: "Vetting valid until",
    applications: "Applications",
    to_documents: "Upload documents",
    to_renew: "Renew the application",
    documents_title: "Documents",
    documents_intro: "Upload the documents we asked for as PDF, PNG or JPEG files.",
    request_message: "Our request",
    nothing_requested: "We have not asked for any documents.",
    files_label: "Files",
    files_hint: "PDF, PNG, JPEG; up to 5 files at a time",
    upload: "Upload",
    uploaded_note: "Thank you: we have received the documents and continue vetting.",
    uploaded_list: "Documents received",
    size: "Size (bytes)",
    choose_file: "Choose a file.",
    too_many_files: "Too many files at once.",
    kinds: [("new", "New"), ("renewal", "Renewal")],
    application_states: [("open", "Being vetted"), ("approved", "Approved"), ("rejected", "Declined")],
    states: [
        ("received", "Application received"),
        ("documents_requested", "Documents requested"),
        ("in_progress", "Vetting in progress"),
        ("approved", "Approved"),
        ("expiring", "The vetting ends soon"),
        ("expired", "The vetting has expired"),
        ("rejected", "Application declined"),
        ("suspended", "Suspended"),
    ],
    events: [
        ("submitted", "Application received"),
        ("documents_requested", "Documents requested"),
        ("documents_uploaded", "Documents uploaded"),
        ("approved", "Approved"),
        ("rejected", "Declined"),
        ("renewed", "Renewal received"),
    ],
    ja: false,
};
