//! The JSON API under `/api`. Handlers are thin: they take the caller as an [`Actor`] (the identity of the
//! connection's verified client certificate, admitted by [`Portal::admit`]), parse the body with
//! [`JsonBody`] (`deny_unknown_fields`; 415 / 400 / 422 / 413 with a reason), and call the [`Portal`] service.
//! Every error answer is `{"error": "<reason>"}`. Every logged-in request runs in a session
//! ([`crate::session`], layered on these routes by `serve_main`: the cookie `zorgcard-session`, ended after 20
//! minutes without activity).
//!
//! | route | does |
//! |---|---|
//! | `GET /api/whoami` | the identity the certificate shows |
//! | `POST /api/organisations` `{"name", "ura"?}` | register (UZI-zorgverlenerspas only) |
//! | `POST /api/organisations/{ura}/beheerders` `{"uzi_number"}` | appoint a beheerder |
//! | `GET /api/cards`, `GET /api/cards/{serial}` | bekijken |
//! | `POST /api/cards/{serial}/block`, `/unblock`, `/revoke` | blokkeren, deblokkeren, intrekken |
//! | `POST /api/organisations/{ura}/medewerkers` `{"uzi_number", "first_names", "surname", "birth_date", "wid_check": {"document", "checked"}}` | register a medewerker |
//! | `GET /api/users` | the users of the caller's organisations |
//! | `POST /api/users/{uzi}/deactivate`, `DELETE /api/users/{uzi}` (`?ura=` when ambiguous) | deactiveren, verwijderen |
//! | `GET /api/audit` | the audit rows of the caller's organisations (administrator or beheerder; 403 otherwise) |

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use portal::{NewMedewerker, Refusal, WidCheck};

use crate::identity::{Identity, Login, LoginRefused};
use crate::service::{CardAction, Portal, ServiceError, UserAction};

/// The log-in of the connection a request came on, put into its extensions by the TLS listener.
#[derive(Debug, Clone)]
pub struct ConnectionLogin(pub Arc<Login>);

/// An error answer: a status and the reason, sent as `{"error": reason}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Why, for the client.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<LoginRefused> for ApiError {
    fn from(e: LoginRefused) -> Self {
        ApiError { status: StatusCode::UNAUTHORIZED, message: e.to_string() }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::Refused(Refusal::Denied { .. }) | ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::Refused(Refusal::UnknownCard { .. } | Refusal::UnknownUser { .. }) => StatusCode::NOT_FOUND,
            ServiceError::Refused(Refusal::Status { .. } | Refusal::UserStatus { .. }) | ServiceError::Conflict(_) => {
                StatusCode::CONFLICT
            }
            ServiceError::Refused(Refusal::Invalid(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::Store(_) | ServiceError::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { status, message: e.to_string() }
    }
}

/// The logged-in caller: the verified certificate's identity, whose card is not blocked or revoked.
#[derive(Debug, Clone)]
pub struct Actor(pub Identity);

impl FromRequestParts<Portal> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Actor, ApiError> {
        let login = parts.extensions.get::<ConnectionLogin>().ok_or(LoginRefused::NoCertificate)?;
        let identity = login.0.as_ref().clone()?;
        portal.admit(&identity).await?;
        Ok(Actor(identity))
    }
}

/// A JSON request body of type `T`; axum's rejections (no `application/json` → 415, not JSON → 400, wrong or
/// unknown fields → 422, over the body limit → 413) become [`ApiError`]s with axum's reason.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<JsonBody<T>, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection_error(&rejection)),
        }
    }
}

fn rejection_error(rejection: &JsonRejection) -> ApiError {
    ApiError { status: rejection.status(), message: rejection.body_text() }
}

/// `POST /api/organisations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The organisation's name.
    pub name: String,
    /// Its URA; the one on the caller's UZI-pas when absent.
    pub ura: Option<String>,
}

/// `POST /api/organisations/{ura}/beheerders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointBody {
    /// UZI number of the new beheerder.
    pub uzi_number: String,
}

/// `POST /api/organisations/{ura}/medewerkers` (seed *Registratie gebruikers 2b*, stap 1 and 2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedewerkerBody {
    /// Their UZI number.
    pub uzi_number: String,
    /// First name(s), as in the WID.
    pub first_names: String,
    /// Surname, as in the WID.
    pub surname: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The face-to-face WID check: `{"document": "paspoort", "checked": true}`.
    pub wid_check: WidCheck,
}

/// `?ura=` on the user routes: which organisation, when the user is in several the caller manages. A URA is
/// 8 digits, so the value needs no percent-decoding (RFC 3986 §3.4); the registry checks it.
fn ura_param(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("ura=")).map(str::to_string)
}

fn message(text: String) -> Json<serde_json::Value> {
    Json(json!({ "message": text.trim_end() }))
}

async fn whoami(Actor(me): Actor) -> Json<Identity> {
    Json(me)
}

async fn register(
    State(portal): State<Portal>,
    Actor(me): Actor,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(message(portal.register(&me, body.name, body.ura).await?))
}

async fn appoint(
    State(portal): State<Portal>,
    Actor(me): Actor,
    Path(ura): Path<String>,
    JsonBody(body): JsonBody<AppointBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(message(portal.appoint(&me, ura, body.uzi_number).await?))
}

async fn cards(State(portal): State<Portal>, Actor(me): Actor) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "cards": portal.cards(&me).await? })))
}

async fn card(
    State(portal): State<Portal>,
    Actor(me): Actor,
    Path(serial): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "card": portal.card(&me, &serial).await? })))
}

async fn audit(State(portal): State<Portal>, Actor(me): Actor) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "audit": portal.audit(&me).await? })))
}

async fn register_medewerker(
    State(portal): State<Portal>,
    Actor(me): Actor,
    Path(ura): Path<String>,
    JsonBody(b): JsonBody<MedewerkerBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let new = NewMedewerker {
        uzi_number: b.uzi_number,
        first_names: b.first_names,
        surname: b.surname,
        birth_date: b.birth_date,
        wid_check: b.wid_check,
    };
    Ok(message(portal.register_medewerker(&me, ura, new).await?))
}

async fn users(State(portal): State<Portal>, Actor(me): Actor) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "users": portal.users(&me).await? })))
}

async fn deactivate_user(
    State(portal): State<Portal>,
    Actor(me): Actor,
    Path(uzi): Path<String>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(message(portal.manage_user(&me, UserAction::Deactivate, uzi, ura_param(&uri)).await?))
}

async fn delete_user(
    State(portal): State<Portal>,
    Actor(me): Actor,
    Path(uzi): Path<String>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(message(portal.manage_user(&me, UserAction::Delete, uzi, ura_param(&uri)).await?))
}

async fn change(
    portal: Portal,
    me: Identity,
    action: CardAction,
    serial: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(message(portal.change(&me, action, serial).await?))
}

async fn block(
    State(p): State<Portal>,
    Actor(me): Actor,
    Path(s): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    change(p, me, CardAction::Block, s).await
}

async fn unblock(
    State(p): State<Portal>,
    Actor(me): Actor,
    Path(s): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    change(p, me, CardAction::Unblock, s).await
}

async fn revoke(
    State(p): State<Portal>,
    Actor(me): Actor,
    Path(s): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    change(p, me, CardAction::Revoke, s).await
}

/// An unknown route: JSON under `/api`, the HTML error page for a browser elsewhere (`Accept: text/html`).
async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    let accepts = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !uri.path().starts_with("/api") && accepts.contains("text/html") {
        let reason = "deze pagina bestaat niet: begin bij Start (/)".to_string();
        return crate::error_page::error_page(StatusCode::NOT_FOUND, reason);
    }
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such API route: see `GET /api/whoami`, `/api/cards`, `POST /api/organisations`".into(),
    }
    .into_response()
}

/// The `/api` routes over `portal`.
pub fn router(portal: Portal) -> Router {
    Router::new()
        .route("/api/whoami", get(whoami))
        .route("/api/organisations", post(register))
        .route("/api/organisations/{ura}/beheerders", post(appoint))
        .route("/api/cards", get(cards))
        .route("/api/cards/{serial}", get(card))
        .route("/api/cards/{serial}/block", post(block))
        .route("/api/cards/{serial}/unblock", post(unblock))
        .route("/api/cards/{serial}/revoke", post(revoke))
        .route("/api/audit", get(audit))
        .route("/api/organisations/{ura}/medewerkers", post(register_medewerker))
        .route("/api/users", get(users))
        .route("/api/users/{uzi}/deactivate", post(deactivate_user))
        .route("/api/users/{uzi}", delete(delete_user))
        .fallback(not_found)
        .with_state(portal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(e: ServiceError) -> StatusCode {
        ApiError::from(e).status
    }

    #[test]
    fn refusals_map_to_their_status_codes() {
        let denied = Refusal::Denied { actor: "900030001".into(), action: "block".into(), why: "seed".into() };
        assert_eq!(status_of(ServiceError::Refused(denied.clone())), StatusCode::FORBIDDEN);
        assert_eq!(status_of(ServiceError::Conflict(denied)), StatusCode::CONFLICT);
        let unknown = Refusal::UnknownCard { serial: "1".into(), actor: "900030001".into() };
        assert_eq!(status_of(ServiceError::Refused(unknown)), StatusCode::NOT_FOUND);
        let blocked = Refusal::Status { serial: "1".into(), status: portal::CardStatus::Blocked, what: "x" };
        assert_eq!(status_of(ServiceError::Refused(blocked)), StatusCode::CONFLICT);
        assert_eq!(status_of(ServiceError::Refused(Refusal::Invalid("x".into()))), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_of(ServiceError::Forbidden("x".into())), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::from(LoginRefused::NoCertificate).status, StatusCode::UNAUTHORIZED);
    }
}
