//! `GET /gebruikers`: the users of the organisations the caller manages (seed *Handleiding
//! gebruikersbeheerder Zorg*, §3.3), each with Deactiveren, or Verwijderen once deactivated (§3.3.1; the
//! registry refuses deleting an active user with 409 all the same).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use portal::UserStatus;

use super::{Caller, PageError, PageForm, query_safe, render};
use crate::service::{Portal, UserAction};

/// One row.
struct Row {
    uzi: String,
    naam: String,
    ura: String,
    status: &'static str,
    actief: bool,
}

#[derive(Template)]
#[template(path = "gebruikers.html")]
struct GebruikersPage {
    csrf: String,
    melding: Option<String>,
    gebruikers: Vec<Row>,
}

/// `?gedaan=…&gebruiker=…` after a POST.
#[derive(Debug, Deserialize)]
pub struct Done {
    gedaan: Option<String>,
    gebruiker: Option<String>,
}

/// The POSTed form.
#[derive(Debug, Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    ura: Option<String>,
}

fn message(done: &Done) -> Option<String> {
    let who = done.gebruiker.as_deref().unwrap_or("");
    Some(match done.gedaan.as_deref()? {
        "geregistreerd" => "De medewerker is geregistreerd.".to_string(),
        "deactiveren" => format!("Gebruiker {who} is gedeactiveerd; zijn of haar rollen zijn niet meer actief."),
        "verwijderen" => format!("Gebruiker {who} is verwijderd."),
        _ => return None,
    })
}

/// `GET /gebruikers`.
pub async fn page(
    State(portal): State<Portal>,
    caller: Caller,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let users = portal.users(&caller.me).await?;
    let gebruikers = users
        .into_iter()
        .map(|u| Row {
            naam: format!("{} {}", u.first_names, u.surname),
            uzi: u.uzi_number,
            ura: u.subscriber_number,
            status: if u.status == UserStatus::Active { "actief" } else { "niet actief" },
            actief: u.status == UserStatus::Active,
        })
        .collect();
    Ok(render(StatusCode::OK, &GebruikersPage { csrf: caller.csrf, melding: message(&done), gebruikers }))
}

async fn manage(
    portal: Portal,
    caller: Caller,
    action: UserAction,
    uzi: String,
    form: UserForm,
) -> Result<Response, PageError> {
    caller.check(&form.csrf)?;
    portal.manage_user(&caller.me, action, uzi.clone(), form.ura).await?;
    let done = if action == UserAction::Deactivate { "deactiveren" } else { "verwijderen" };
    Ok(Redirect::to(&format!("/gebruikers?gedaan={done}&gebruiker={}", query_safe(&uzi))).into_response())
}

/// `POST /gebruikers/{uzi}/deactiveren`.
pub async fn deactivate(
    State(portal): State<Portal>,
    caller: Caller,
    Path(uzi): Path<String>,
    PageForm(form): PageForm<UserForm>,
) -> Result<Response, PageError> {
    manage(portal, caller, UserAction::Deactivate, uzi, form).await
}

/// `POST /gebruikers/{uzi}/verwijderen`.
pub async fn delete(
    State(portal): State<Portal>,
    caller: Caller,
    Path(uzi): Path<String>,
    PageForm(form): PageForm<UserForm>,
) -> Result<Response, PageError> {
    manage(portal, caller, UserAction::Delete, uzi, form).await
}
