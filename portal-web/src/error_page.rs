//! The HTML error page (`templates/fout.html`): the reason an action was refused, with its status code. Below
//! both [`crate::pages`] and [`crate::session`], which answer a browser with it (a refused page action, an
//! expired session, no client certificate).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// `fout.html`: why an action was refused.
#[derive(Template)]
#[template(path = "fout.html")]
struct ErrorTemplate {
    status: u16,
    reason: String,
}

/// An error page with `status` and `reason`.
pub fn error_page(status: StatusCode, reason: String) -> Response {
    render(status, &ErrorTemplate { status: status.as_u16(), reason })
}

/// A rendered template with `status`; a template that fails to render (it cannot: the templates are checked at
/// compile time, and their values are strings) is a 500.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("the page could not be rendered: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_escapes_its_reason() {
        let page = ErrorTemplate { status: 403, reason: "<script>x</script>".into() }.render().unwrap();
        assert!(page.contains("&#60;script&#62;") && !page.contains("<script>"), "{page}");
    }
}
