//! `GET /`: Start. Who is logged in (the certificate's name and UZI number, in `#uzi-nummer`), the pass, the
//! organisations and the caller's role at each, and links to the pages those roles may use.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use portal::Role;

use super::{Caller, PageError, render};
use crate::identity::CardKind;
use crate::service::Portal;

/// One organisation row.
struct Row {
    ura: String,
    naam: String,
    rol: &'static str,
}

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage {
    melding: Option<String>,
    naam: String,
    uzi_nummer: String,
    pas: String,
    ura: String,
    rolcode: String,
    organisaties: Vec<Row>,
    registreren: bool,
    beheren: bool,
    administrator: bool,
}

/// `?gedaan=organisatie` after registering.
#[derive(Debug, Deserialize)]
pub struct Done {
    gedaan: Option<String>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Administrator => "administrator",
        Role::Beheerder => "beheerder",
        Role::Worker => "medewerker",
    }
}

/// `GET /`.
pub async fn page(
    State(portal): State<Portal>,
    caller: Caller,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let me = caller.me;
    let roles = portal.roles(&me).await?;
    let organisaties: Vec<Row> = roles
        .iter()
        .map(|(o, r)| Row { ura: o.subscriber_number.clone(), naam: o.name.clone(), rol: role_name(*r) })
        .collect();
    let melding = (done.gedaan.as_deref() == Some("organisatie"))
        .then(|| "De organisatie is geregistreerd; u bent de administrator.".to_string());
    let page = StartPage {
        melding,
        naam: me.name.clone(),
        uzi_nummer: me.uzi_number.clone(),
        pas: me.card.to_string(),
        ura: me.ura.clone(),
        rolcode: me.role.clone(),
        registreren: me.card == CardKind::Zorgverlenerspas,
        beheren: roles.iter().any(|(_, r)| *r != Role::Worker),
        administrator: roles.iter().any(|(_, r)| *r == Role::Administrator),
        organisaties,
    };
    Ok(render(StatusCode::OK, &page))
}
