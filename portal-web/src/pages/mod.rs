//! The HTML pages beside the JSON API: server-rendered with askama (templates in `portal-web/templates/`, checked
//! at compile time, HTML-escaped by default), no JavaScript and nothing loaded from elsewhere. Every page calls
//! the same [`Portal`] operations as [`crate::api`], so the same server-side rules decide; a refusal is an
//! error page with the reason and the API's status code ([`PageError`]). Labels are the portal's Dutch ones
//! (seeds *Registreren organisatie*, *Registratie gebruikers 2b*, *Handleiding gebruikersbeheerder Zorg*).
//!
//! Forms POST `application/x-www-form-urlencoded` with the session's [`CsrfToken`] in the hidden field `csrf`
//! (checked by [`Caller::check`]), beside the `SameSite=Strict` session cookie ([`crate::session`]). A form
//! with a field error comes back filled in, with status 422 and the error next to its field
//! (`<p class="fout" id="<field>-fout">`, referenced by `aria-describedby`); nothing is stored then.
//!
//! | route | page |
//! |---|---|
//! | `GET /` | [`start`]: who is logged in, their organisations and roles |
//! | `GET`/`POST /organisatie` | [`organisatie`]: Organisatie registreren (UZI-zorgverlenerspas only) |
//! | `GET /kaarten`, `POST /kaarten/{serial}/blokkeren`, `/deblokkeren`, `GET`/`POST /kaarten/{serial}/intrekken` | [`kaarten`] |
//! | `GET`/`POST /medewerkers/nieuw` | [`medewerkers`]: Medewerker registreren |
//! | `GET /gebruikers`, `POST /gebruikers/{uzi}/deactiveren`, `/verwijderen` | [`gebruikers`] |
//! | `GET`/`POST /beheerders` | [`beheerders`]: Beheerder aanstellen (administrator only) |

pub mod beheerders;
pub mod gebruikers;
pub mod kaarten;
pub mod medewerkers;
pub mod organisatie;
pub mod start;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::api::{ApiError, ConnectionLogin};
pub use crate::error_page::error_page;
use crate::error_page::render;
use crate::identity::{Identity, LoginRefused};
use crate::service::{Portal, ServiceError};
use crate::session::CsrfToken;

/// A refused request: the error page, with the status the API gives the same refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError(pub ApiError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0.status, self.0.message)
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        PageError(ApiError::from(e))
    }
}

impl From<LoginRefused> for PageError {
    fn from(e: LoginRefused) -> Self {
        PageError(ApiError::from(e))
    }
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError(ApiError { status, message: message.into() })
    }
}

/// The logged-in caller of a page (as [`crate::api::Actor`]: admitted by [`Portal::admit`]) and their
/// session's form token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub me: Identity,
    /// The token their forms carry.
    pub csrf: String,
}

impl FromRequestParts<Portal> for Caller {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Caller, PageError> {
        let login = parts.extensions.get::<ConnectionLogin>().ok_or(LoginRefused::NoCertificate)?;
        let me = login.0.as_ref().clone()?;
        portal.admit(&me).await?;
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .ok_or_else(|| PageError::new(StatusCode::UNAUTHORIZED, "no session: log in again (reload the page)"))?;
        Ok(Caller { me, csrf: csrf.0.clone() })
    }
}

impl Caller {
    /// Refuses a form whose `csrf` field is not this session's token (compared in constant time).
    pub fn check(&self, sent: &str) -> Result<(), PageError> {
        let (a, b) = (self.csrf.as_bytes(), sent.as_bytes());
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "the form does not carry this session's token (it is from another or an expired session): open the page again and resend it",
            ))
        }
    }
}

/// A form body of type `T`; axum's rejections (not `application/x-www-form-urlencoded` → 415, unreadable → 400
/// or 422) become error pages with axum's reason.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<PageForm<T>, PageError> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(value)) => Ok(PageForm(value)),
            Err(rejection) => Err(form_error(&rejection)),
        }
    }
}

fn form_error(rejection: &FormRejection) -> PageError {
    PageError::new(rejection.status(), rejection.body_text())
}

/// A `YYYY-MM-DD` date of Unix time `t`, as the pages show validity.
pub fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map(|t| t.date().to_string()).unwrap_or_else(|_| t.to_string())
}

/// A value fit for a `?kaart=`/`?gebruiker=` query parameter after a redirect: letters and digits only, so it
/// needs no encoding (RFC 3986 §3.4); anything else is left out.
pub fn query_safe(value: &str) -> &str {
    if value.bytes().all(|b| b.is_ascii_alphanumeric()) { value } else { "" }
}

/// The pages' routes over `portal`.
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/", get(start::page))
        .route("/organisatie", get(organisatie::page).post(organisatie::submit))
        .route("/kaarten", get(kaarten::page))
        .route("/kaarten/{serial}/blokkeren", post(kaarten::block))
        .route("/kaarten/{serial}/deblokkeren", post(kaarten::unblock))
        .route("/kaarten/{serial}/intrekken", get(kaarten::confirm_revoke).post(kaarten::revoke))
        .route("/medewerkers/nieuw", get(medewerkers::page).post(medewerkers::submit))
        .route("/gebruikers", get(gebruikers::page))
        .route("/gebruikers/{uzi}/deactiveren", post(gebruikers::deactivate))
        .route("/gebruikers/{uzi}/verwijderen", post(gebruikers::delete))
        .route("/beheerders", get(beheerders::page).post(beheerders::submit))
        .with_state(portal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        let me = Identity {
            uzi_number: "900016528".into(),
            name: "Test".into(),
            card: crate::identity::CardKind::Zorgverlenerspas,
            card_type: "Z".into(),
            ura: "90000001".into(),
            role: "01.015".into(),
            agb: "00000000".into(),
            certificate_serial: "01".into(),
        };
        Caller { me, csrf: "ab12".into() }
    }

    #[test]
    fn a_form_must_carry_the_sessions_token() {
        assert!(caller().check("ab12").is_ok());
        for wrong in ["", "ab1", "ab13", "ab12x"] {
            assert_eq!(caller().check(wrong).unwrap_err().0.status, StatusCode::FORBIDDEN, "{wrong}");
        }
    }

    #[test]
    fn only_letters_and_digits_go_into_a_redirect() {
        assert_eq!(query_safe("9100000000000001"), "9100000000000001");
        assert_eq!(query_safe("a&b=c"), "");
    }
}
