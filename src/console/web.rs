//! The console's HTTP pieces: the front ends' shared ones
//! (`http::page`), and the console's own return-path rule.

pub use crate::http::page::{
    cookie, encode, field, form, html, page, see_other, set_cookie, Limiter,
};

/// A return path is only ever a console page of this listener.
pub fn local_path(p: &str) -> Option<&str> {
    crate::http::page::local_path(p, "/console/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_return_paths() {
        assert_eq!(
            local_path("/console/organizations/7"),
            Some("/console/organizations/7")
        );
        for bad in ["/", "/status", "/consolex", "//evil.example/console/"] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }
}
