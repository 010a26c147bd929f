//! The two HTML pages of the simulator: the authorize (sign-in and consent)
//! page and the Doorkeeper-style error page.

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// The hidden OAuth parameters the form carries back.
pub(crate) struct AuthorizePage<'a> {
    pub app_name: &'a str,
    pub params: &'a [(String, String)],
    /// (username, display name) of every active or blocked account.
    pub users: &'a [(String, String)],
    pub scopes: &'a [String],
    pub error: Option<&'a str>,
}

pub(crate) fn authorize_page(page: &AuthorizePage<'_>) -> String {
    let hidden: String = page
        .params
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", escape(k), escape(v)))
        .collect();
    let buttons: String = page
        .users
        .iter()
        .map(|(username, name)| {
            format!(
                "<li><button type=\"submit\" name=\"user\" value=\"{u}\" data-user=\"{u}\">Sign in as {n} (@{u})</button></li>\n",
                u = escape(username),
                n = escape(name)
            )
        })
        .collect();
    let scopes: String = page.scopes.iter().map(|s| format!("<li><code>{}</code></li>", escape(s))).collect();
    let error = page
        .error
        .map(|e| format!("<p class=\"flash-alert\" role=\"alert\" data-testid=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorize {app} · GitLab (simulated)</title></head>\n\
<body>\n<h1>Authorize {app} to use your account?</h1>\n{error}\
<form method=\"post\" action=\"/oauth/authorize\" id=\"authorize-form\">\n{hidden}\
<p>This application will be able to:</p><ul class=\"scopes\">{scopes}</ul>\n\
<ul class=\"users\">\n{buttons}</ul>\n\
<label for=\"username\">Username</label> <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\">\n\
<button type=\"submit\" name=\"decision\" value=\"authorize\" data-action=\"authorize\">Authorize</button>\n\
<button type=\"submit\" name=\"decision\" value=\"deny\" data-action=\"deny\">Deny</button>\n\
</form>\n</body></html>\n",
        app = escape(page.app_name),
    )
}

/// Doorkeeper's error page ("An error has occurred" plus the description).
pub(crate) fn error_page(description: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>GitLab (simulated)</title></head>\n\
<body>\n<h1>An error has occurred</h1>\n<p data-testid=\"error\">{}</p>\n</body></html>\n",
        escape(description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let params = vec![(String::from("state"), String::from("\"><script>x</script>"))];
        let users = vec![(String::from("alice"), String::from("A <b>"))];
        let html = authorize_page(&AuthorizePage {
            app_name: "app",
            params: &params,
            users: &users,
            scopes: &[],
            error: Some("<bad>"),
        });
        assert!(!html.contains("<script>x"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;"));
        assert!(html.contains("data-user=\"alice\""));
        assert!(html.contains("A &lt;b&gt;"));
        assert!(html.contains("&lt;bad&gt;"));
    }
}
