//! `--test-clock` (TESTS ONLY, never in production): `POST /test/clock {"advance_secs": N}` moves the portal's
//! clock N seconds forward, so a test sees a session expire after 20 minutes without activity (seed *Handleiding
//! gebruikersbeheerder Zorg*, §2.1) without waiting them out. It is safe only because of where it lives: the
//! route exists only with the flag, only on the plain-HTTP listener (which binds loopback only), and it only moves
//! forward. A portal that real users log in to must never be started with `--test-clock`.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, response::IntoResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api::{ApiError, JsonBody};
use crate::clock::PortalClock;

/// `POST /test/clock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceBody {
    /// Seconds forward (never back: a `u32`).
    pub advance_secs: u32,
}

async fn advance(
    State(clock): State<PortalClock>,
    JsonBody(body): JsonBody<AdvanceBody>,
) -> Result<impl IntoResponse, ApiError> {
    clock.advance(body.advance_secs);
    Ok(Json(json!({ "now": clock.now() })))
}

/// The route, over `clock` (the portal's own, shared).
pub fn router(clock: PortalClock) -> Router {
    Router::new().route("/test/clock", post(advance)).with_state(clock)
}
