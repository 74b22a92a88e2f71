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
    fn open(&self, certificate_serial: &str) -> Result<SessionId, SessionRefused> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| SessionRefused::NoRandomness(e.to_string()))?;
        let id = SessionId(hex::encode(bytes));
        let session = Session { certificate_serial: certificate_serial.into(), last_activity: self.clock.now() };
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), session);
        Ok(id)
    }

    /// Checks and refreshes session `id` for `certificate_serial`; an expired one is removed.
    fn touch(&self, id: &SessionId, certificate_serial: &str) -> Result<(), SessionRefused> {
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
        Ok(())
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

/// The middleware on `/api`: opens, checks and refreshes the session of every logged-in request. A request without
/// a valid log-in passes untouched: the [`crate::api::Actor`] extractor answers it with its own 401.
pub async fn session_layer(State(sessions): State<Sessions>, req: Request, next: Next) -> Response {
    let login = req.extensions().get::<ConnectionLogin>().and_then(|l| l.0.as_ref().as_ref().ok());
    let Some(serial) = login.map(|identity| identity.certificate_serial.clone()) else {
        return next.run(req).await;
    };
    match cookie(&req) {
        Some(id) => match sessions.touch(&id, &serial) {
            Ok(()) => next.run(req).await,
            Err(refused) => ApiError::from(refused).into_response(),
        },
        None => match sessions.open(&serial) {
            Ok(id) => {
                let mut response = next.run(req).await;
                let value = format!("{COOKIE}={}; Secure; HttpOnly; SameSite=Strict; Path=/", id.0);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                response
            }
            Err(refused) => ApiError::from(refused).into_response(),
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
        let id = sessions.open("01AB").unwrap();
        assert_eq!(id.0.len(), 32);
        assert_eq!(format!("{id:?}"), "SessionId(***)");
        assert_eq!(sessions.touch(&id, "02CD"), Err(SessionRefused::OtherCertificate));
        clock.advance(19 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Ok(()));
        clock.advance(19 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Ok(()), "activity refreshed it");
        clock.advance(21 * 60);
        assert_eq!(sessions.touch(&id, "01AB"), Err(SessionRefused::Expired));
        assert_eq!(sessions.touch(&id, "01AB"), Err(SessionRefused::Unknown), "removed");
        assert_ne!(sessions.open("01AB").unwrap(), id);
    }
}
