//! The session a log-in opens (seed *Handleiding gebruikersbeheerder Zorg*, §2.1: "Als een gebruiker 20 minuten
//! niet actief is geweest wordt deze automatisch uitgelogd").
//!
//! The log-in is the client certificate; the first authenticated request without a session cookie opens a
//! session and gets `Set-Cookie: zorgcard-session=<128 random bits from the OS CSPRNG, hex>; Secure; HttpOnly;
//! SameSite=Strict` (RFC 6265 §4.1, and the SameSite attribute of RFC 6265bis). A request with the cookie must
//! come with the certificate that opened it, within [`IDLE_LIMIT_SECS`] of the session's last request at the
//! portal's clock; each such request refreshes it. An expired session is removed, so the cookie is unknown from
//! then on: the client logs in again by sending no cookie. Sessions live in memory: a restart ends them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, ConnectionLogin};
use crate::clock::PortalClock;

/// Idle time after which a session ends: 20 minutes.
pub const IDLE_LIMIT_SECS: i64 = 20 * 60;

/// The cookie's name.
pub const COOKIE: &str = "zorgcard-session";

/// A session identifier: a bearer secret, so it never reaches `Debug` output.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(***)")
    }
}

#[derive(Debug)]
struct Session {
    /// The certificate that opened it (serial, as `Identity::certificate_serial`).
    certificate_serial: String,
    /// Its last request, Unix seconds at the portal's clock.
    last_activity: i64,
    /// The token every form of the HTML pages carries in a hidden field ([`CsrfToken`]).
    csrf: CsrfToken,
}

/// The session's form token (128 random bits, hex), put into each request's extensions for the HTML pages
/// (`crate::pages`): a form POST must carry it back. The cookie is `SameSite=Strict` already (RFC 6265bis
/// §8.8.2), so another site's form is sent without it; the token is the second, independent check (OWASP CSRF
/// Prevention Cheat Sheet, "Synchronizer Token Pattern"). A bearer secret like the cookie: `Debug` masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(pub String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(***)")
    }
}

fn random_hex() -> Result<String, SessionRefused> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SessionRefused::NoRandomness(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Why a request's session cookie is refused; the text is the 401 answer's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefused {
    /// Idle too long.
    #[error("session expired after 20 minutes without activity: log in again")]
    Expired,
    /// Opened by another certificate's log-in.
    #[error("this session belongs to another certificate's log-in: log in again with your own card")]
    OtherCertificate,
    /// Not a session the portal has (expired and removed, or from before a restart).
    #[error("unknown session: log in again (send the request without the zorgcard-session cookie)")]
    Unknown,
    /// The operating system gave no randomness for a new session identifier.
    #[error("cannot make a session identifier: the operating system's random source failed ({0}): retry")]
    NoRandomness(String),
}

impl From<SessionRefused> for ApiError {
    fn from(e: SessionRefused) -> Self {
        let status = match e {
            SessionRefused::NoRandomness(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError { status, message: e.to_string() }
    }
}

/// The open sessions, in memory, at the portal's clock.
#[derive(Debug, Clone)]
pub struct Sessions {
    open: Arc<Mutex<HashMap<SessionId, Session>>>,
    clock: PortalClock,
}

impl Sessions {
    /// No sessions yet.
    pub fn new(clock: PortalClock) -> Sessions {
        Sessions { open: Arc::default(), clock }
    }

    /// Opens a session for `certificate_serial`; returns its identifier (32 hex digits).
    fn open(&self, certificate_serial: &str) -> Result<(SessionId, CsrfToken), SessionRefused> {
        let id = SessionId(random_hex()?);
        let csrf = CsrfToken(random_hex()?);
        let session = Session {
            certificate_serial: certificate_serial.into(),
            last_activity: self.clock.now(),
            csrf: csrf.clone(),
        };
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), session);
        Ok((id, csrf))
    }

    /// Checks and refreshes session `id` for `certificate_serial`; an expired one is removed.
    fn touch(&self, id: &SessionId, certificate_serial: &str) -> Result<CsrfToken, SessionRefused> {
        let now = self.clock.now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let session = open.get_mut(id).ok_or(SessionRefused::Unknown)?;
        if session.certificate_serial != certificate_serial {
            return Err(SessionRefused::OtherCertificate);
        }
        if now - session.last_activity > IDLE_LIMIT_SECS {
            open.remove(id);
            return Err(SessionRefused::Expired);
        }
        session.last_activity = now;
        Ok(session.csrf.clone())
    }
}

/// The `zorgcard-session` cookie of a request, if any (RFC 6265 §5.4: `name=value` pairs split by `; `).
fn cookie(req: &Request) -> Option<SessionId> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(|v| SessionId(v.to_string())))
}

/// A refused session's answer: an HTML page for a browser (`Accept: text/html`) or a page route, JSON otherwise.
fn refuse(html: bool, refused: SessionRefused) -> Response {
    let ApiError { status, message } = ApiError::from(refused);
    if html { crate::error_page::error_page(status, message) } else { ApiError { status, message }.into_response() }
}

/// Whether a request is a browser's: it accepts `text/html`, or is not for `/api`.
fn wants_html(req: &Request) -> bool {
    let accepts = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accepts.contains("text/html") || !req.uri().path().starts_with("/api")
}

/// The middleware on `/api` and the pages: opens, checks and refreshes the session of every logged-in request, and
/// gives the request its session's [`CsrfToken`]. A request without a valid log-in passes untouched: the
/// [`crate::api::Actor`] and `crate::pages` extractors answer it with their own 401.
pub async fn session_layer(State(sessions): State<Sessions>, mut req: Request, next: Next) -> Response {
    let login = req.extensions().get::<ConnectionLogin>().and_then(|l| l.0.as_ref().as_ref().ok());
    let Some(serial) = login.map(|identity| identity.certificate_serial.clone()) else {
        return next.run(req).await;
    };
    let html = wants_html(&req);
    match cookie(&req) {
        Some(id) => match sessions.touch(&id, &serial) {
            Ok(csrf) => {
                req.extensions_mut().insert(csrf);
                next.run(req).await
            }
            Err(refused) => refuse(html, refused),
        },
        None => match sessions.open(&serial) {
            Ok((id, csrf)) => {
                req.extensions_mut().insert(csrf);
                let mut response = next.run(req).await;
                let value = format!("{COOKIE}={}; Secure; HttpOnly; SameSite=Strict; Path=/", id.0);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                response
            }
            Err(refused) => refuse(html, refused),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_after_20_idle_minutes_and_belongs_to_one_certificate() {
        let clock = PortalClock::default();
        let sessions = Sessions::new(clock.clone());
        let (id, csrf) = sessions.open("01AB").unwrap();
        assert_eq!(format!("{csrf:?}"), "CsrfToken(***)");
        assert_eq!(id.0.len(), 32);
        assert_eq!(format!("{id:?}"), "SessionId(***)");
        assert_eq!(sessions.touch(&id, "02CD"), Err(SessionRefused::OtherCertificate));
        clock.advance(19 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Ok(csrf.clone()));
        clock.advance(19 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Ok(csrf), "activity refreshed it");
        clock.advance(21 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Err(SessionRefused::Expired));
        assert_eq!(sessions.touch(&id, "01AB"), Err(SessionRefused::Unknown), "removed");
        assert_ne!(sessions.open("01AB").unwrap().0, id);
    }
}
