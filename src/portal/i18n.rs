//! The portal's words in Japanese and English, and which one a request
//! gets: the language cookie (the switch), else Accept-Language, else
//! Japanese. Other parts of the portal add their words in tables of
//! their own beside this one (one `Text` per page group keeps merges
//! apart).

use crate::vetting::customers::Problem;

pub use crate::core::customer::Language as Lang;

/// The language switch's cookie (distinct from the console's: both
/// listeners may share a host, and cookies do not tell ports apart).
pub const LANG_COOKIE: &str = "tg_portal_lang";

/// The cookie if set, else the preferred of ja/en in Accept-Language,
/// else Japanese: the CA's customers are in Japan.
pub fn pick(cookie: Option<&str>, accept: Option<&str>) -> Lang {
    if let Some(l) = cookie.and_then(Lang::parse) {
        return l;
    }
    crate::http::page::preferred_language(accept, &["ja", "en"])
        .and_then(Lang::parse)
        .unwrap_or(Lang::Ja)
}

/// The other one, which the switch offers.
pub fn other(l: Lang) -> Lang {
    match l {
        Lang::Ja => Lang::En,
        Lang::En => Lang::Ja,
    }
}

pub fn text(l: Lang) -> &'static Text {
    match l {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// A sign-up problem, worded.
pub fn problem(l: Lang, p: Problem) -> String {
    let ja = l == Lang::Ja;
    match p {
        Problem::Required if ja => "入力してください。".into(),
        Problem::Required => "Enter a value.".into(),
        Problem::TooLong(n) if ja => format!("{n} 文字以内で入力してください。"),
        Problem::TooLong(n) => format!("Use at most {n} characters."),
        Problem::TooShort(n) if ja => format!("{n} 文字以上にしてください。"),
        Problem::TooShort(n) => format!("Use at least {n} characters."),
        Problem::NotEmail if ja => {
            "メールアドレスの形式ではありません (例: taro@example.co.jp)。".into()
        }
        Problem::NotEmail => "This is not an e-mail address (e.g. taro@example.co.jp).".into(),
        Problem::Mismatch if ja => "パスワードが一致しません。".into(),
        Problem::Mismatch => "The passwords differ.".into(),
        Problem::PostalCode if ja => "郵便番号は 123-4567 の形式で入力してください。".into(),
        Problem::PostalCode => "Enter a Japanese postal code such as 123-4567.".into(),
        Problem::Phone if ja => {
            "電話番号は数字とハイフンで入力してください (例: 03-1234-5678)。".into()
        }
        Problem::Phone => "Enter a phone number in digits and hyphens (e.g. 03-1234-5678).".into(),
        Problem::ControlCharacter if ja => "改行や制御文字は使えません。".into(),
        Problem::ControlCharacter => "Line breaks and control characters are not allowed.".into(),
        Problem::NotAccepted if ja => "利用規約に同意してください。".into(),
        Problem::NotAccepted => "Accept the subscriber agreement to continue.".into(),
    }
}

/// Every word the foundation's pages show, in one language.
pub struct Text {
    pub lang_name: &'static str,
    pub portal: &'static str,
    pub home: &'static str,
    pub main_menu: &'static str,
    pub agreement: &'static str,
    pub signup: &'static str,
    pub login: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub signup_intro: &'static str,
    pub account_section: &'static str,
    pub holder_section: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub password_hint: &'static str,
    pub password_again: &'static str,
    pub contact_name: &'static str,
    pub organization: &'static str,
    pub department: &'static str,
    pub postal_code: &'static str,
    pub address: &'static str,
    pub phone: &'static str,
    pub fax: &'static str,
    pub optional: &'static str,
    pub agree: &'static str,
    pub version: &'static str,
    pub create_account: &'static str,
    pub form_has_errors: &'static str,
    pub check_mail_title: &'static str,
    pub check_mail: &'static str,
    pub verify_title: &'static str,
    pub verify_intro: &'static str,
    pub verify_button: &'static str,
    pub verified_title: &'static str,
    pub verified: &'static str,
    pub verify_failed: &'static str,
    pub sign_in: &'static str,
    pub login_failed: &'static str,
    pub unverified: &'static str,
    pub too_many: &'static str,
    pub no_account: &'static str,
    pub accept: &'static str,
    pub accept_again: &'static str,
    pub accepted_on: &'static str,
    pub welcome: &'static str,
    pub no_application: &'static str,
    pub your_organization: &'static str,
    pub csrf_refused: &'static str,
    pub not_found: &'static str,
    pub server_error: &'static str,
    pub bad_request: &'static str,
}

pub static JA: Text = Text {
    lang_name: "日本語",
    portal: "trustgate お客様ポータル",
    home: "ホーム",
    main_menu: "メインメニュー",
    agreement: "利用規約",
    signup: "アカウント登録",
    login: "ログイン",
    logout: "ログアウト",
    signed_in_as: "ログイン中",
    signup_intro: "利用規約をお読みのうえ、アカウントを登録してください。登録したメールアドレスに確認のリンクをお送りします。",
    account_section: "アカウント",
    holder_section: "ご担当者の連絡先",
    email: "メールアドレス (アカウント ID)",
    password: "パスワード",
    password_hint: "12 文字以上",
    password_again: "パスワード (確認)",
    contact_name: "ご担当者名",
    organization: "会社・団体名",
    department: "部署名",
    postal_code: "郵便番号",
    address: "住所",
    phone: "電話番号",
    fax: "FAX 番号",
    optional: "任意",
    agree: "上記の利用規約に同意します",
    version: "版",
    create_account: "登録する",
    form_has_errors: "入力内容に誤りがあります。各項目のメッセージをご確認ください。",
    check_mail_title: "確認メールを送信しました",
    check_mail: "入力されたメールアドレスに確認のリンクを送信しました。24 時間以内にリンクを開いてください。すでに登録済みのアドレスには新しいメールは送信されません。その場合はログインしてください。",
    verify_title: "メールアドレスの確認",
    verify_intro: "ボタンを押して、メールアドレスの確認を完了してください。",
    verify_button: "確認する",
    verified_title: "メールアドレスを確認しました",
    verified: "メールアドレスを確認しました。ログインしてください。",
    verify_failed: "このリンクは無効か、期限切れか、すでに使用されています。",
    sign_in: "ログイン",
    login_failed: "メールアドレスまたはパスワードが正しくありません。",
    unverified: "メールアドレスの確認が済んでいません。お送りしたメールのリンクを開いてください。",
    too_many: "試行回数が多すぎます。しばらくしてからもう一度お試しください。",
    no_account: "アカウントをお持ちでない方",
    accept: "同意する",
    accept_again: "利用規約が改定されました。続けるには新しい版に同意してください。",
    accepted_on: "同意済み",
    welcome: "ようこそ",
    no_application: "まだお申し込みがありません。",
    your_organization: "お客様の組織",
    csrf_refused: "フォームの確認トークンが無効です。ページを再読み込みしてください。",
    not_found: "ページが見つかりません。",
    server_error: "サーバーでエラーが発生しました。しばらくしてからもう一度お試しください。",
    bad_request: "リクエストを処理できませんでした。",
};

pub static EN: Text = Text {
    lang_name: "English",
    portal: "trustgate customer portal",
    home: "Home",
    main_menu: "Main menu",
    agreement: "Subscriber agreement",
    signup: "Sign up",
    login: "Log in",
    logout: "Log out",
    signed_in_as: "Signed in as",
    signup_intro: "Read the subscriber agreement, then create your account. We will send a confirmation link to your e-mail address.",
    account_section: "Account",
    holder_section: "Account holder",
    email: "E-mail address (account ID)",
    password: "Password",
    password_hint: "at least 12 characters",
    password_again: "Password (again)",
    contact_name: "Contact name",
    organization: "Company or organization",
    department: "Department",
    postal_code: "Postal code",
    address: "Address",
    phone: "Phone",
    fax: "Fax",
    optional: "optional",
    agree: "I accept the subscriber agreement above",
    version: "version",
    create_account: "Create account",
    form_has_errors: "Some fields need correcting; see the message beside each.",
    check_mail_title: "Check your e-mail",
    check_mail: "We sent a confirmation link to the address you entered. Open it within 24 hours. An address that already has an account gets no new mail: log in instead.",
    verify_title: "Confirm your e-mail address",
    verify_intro: "Press the button to finish confirming your e-mail address.",
    verify_button: "Confirm",
    verified_title: "E-mail address confirmed",
    verified: "Your e-mail address is confirmed. You can log in now.",
    verify_failed: "This link is not valid, has expired or was used already.",
    sign_in: "Log in",
    login_failed: "The e-mail address or password is wrong.",
    unverified: "Your e-mail address is not confirmed yet. Open the link in the mail we sent.",
    too_many: "Too many attempts. Please wait a few minutes and try again.",
    no_account: "No account yet?",
    accept: "Accept",
    accept_again: "The subscriber agreement has changed. Accept the new version to continue.",
    accepted_on: "Accepted",
    welcome: "Welcome",
    no_application: "You have not applied yet.",
    your_organization: "Your organization",
    csrf_refused: "The form's security token is not valid. Reload the page and try again.",
    not_found: "Page not found.",
    server_error: "Something went wrong on our side. Please try again later.",
    bad_request: "The request could not be processed.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_wins_then_accept_language_then_japanese() {
        assert_eq!(pick(Some("en"), Some("ja")), Lang::En);
        assert_eq!(pick(None, Some("en-US,en;q=0.9,ja;q=0.8")), Lang::En);
        assert_eq!(pick(Some("xx"), Some("fr")), Lang::Ja);
        assert_eq!(other(Lang::Ja), Lang::En);
    }

    #[test]
    fn every_problem_is_worded_in_both_languages() {
        for p in [
            Problem::Required,
            Problem::TooLong(8),
            Problem::Phone,
            Problem::NotAccepted,
        ] {
            let (ja, en) = (problem(Lang::Ja, p), problem(Lang::En, p));
            assert!(!ja.is_empty() && !en.is_empty() && ja != en, "{p:?}");
        }
        assert!(problem(Lang::En, Problem::TooLong(8)).contains('8'));
    }
}
