//! `GET /kaarten`: the cards the caller may see (`Registry::view`: their own, or all of an organisation they
//! manage), each with Blokkeren, Deblokkeren (POST, then 303 back with a message) and Intrekken, which asks
//! first: `GET /kaarten/{serial}/intrekken` is the "Weet u zeker…" page whose button POSTs.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use portal::CardStatus;

use super::{Caller, PageError, PageForm, date, query_safe, render};
use crate::service::{CardAction, Portal};

/// One row of the table.
struct Row {
    serial: String,
    houder: String,
    status: &'static str,
    geldig_tot: String,
    actief: bool,
    geblokkeerd: bool,
    ingetrokken: bool,
}

#[derive(Template)]
#[template(path = "kaarten.html")]
struct KaartenPage {
    csrf: String,
    melding: Option<String>,
    kaarten: Vec<Row>,
}

#[derive(Template)]
#[template(path = "intrekken.html")]
struct IntrekkenPage {
    csrf: String,
    serial: String,
    houder: String,
}

/// `?gedaan=<action>&kaart=<serial>` after a POST.
#[derive(Debug, Deserialize)]
pub struct Done {
    gedaan: Option<String>,
    kaart: Option<String>,
}

/// The POSTed form: only the token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

fn status_name(status: CardStatus) -> &'static str {
    match status {
        CardStatus::Active => "actief",
        CardStatus::Blocked => "geblokkeerd",
        CardStatus::Revoked => "ingetrokken",
    }
}

fn message(done: &Done) -> Option<String> {
    let what = match done.gedaan.as_deref()? {
        "blokkeren" => "geblokkeerd",
        "deblokkeren" => "gedeblokkeerd",
        "intrekken" => "ingetrokken",
        _ => return None,
    };
    Some(format!("Kaart {} is {what}.", done.kaart.as_deref().unwrap_or("")))
}

/// `GET /kaarten`.
pub async fn page(
    State(portal): State<Portal>,
    caller: Caller,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let cards = portal.cards(&caller.me).await?;
    let kaarten = cards
        .iter()
        .map(|c| Row {
            serial: c.issued.serial.clone(),
            houder: c.issued.holder_name.clone(),
            status: status_name(c.status),
            geldig_tot: date(c.issued.not_after),
            actief: c.status == CardStatus::Active,
            geblokkeerd: c.status == CardStatus::Blocked,
            ingetrokken: c.status == CardStatus::Revoked,
        })
        .collect();
    Ok(render(StatusCode::OK, &KaartenPage { csrf: caller.csrf, melding: message(&done), kaarten }))
}

async fn change(
    portal: Portal,
    caller: Caller,
    action: CardAction,
    serial: String,
    csrf: &str,
) -> Result<Response, PageError> {
    caller.check(csrf)?;
    portal.change(&caller.me, action, serial.clone()).await?;
    let done = match action {
        CardAction::Block => "blokkeren",
        CardAction::Unblock => "deblokkeren",
        CardAction::Revoke => "intrekken",
    };
    Ok(Redirect::to(&format!("/kaarten?gedaan={done}&kaart={}", query_safe(&serial))).into_response())
}

/// `POST /kaarten/{serial}/blokkeren`.
pub async fn block(
    State(portal): State<Portal>,
    caller: Caller,
    Path(serial): Path<String>,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    change(portal, caller, CardAction::Block, serial, &form.csrf).await
}

/// `POST /kaarten/{serial}/deblokkeren`.
pub async fn unblock(
    State(portal): State<Portal>,
    caller: Caller,
    Path(serial): Path<String>,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    change(portal, caller, CardAction::Unblock, serial, &form.csrf).await
}

/// `GET /kaarten/{serial}/intrekken`: "Weet u zeker…", for a card the caller may see.
pub async fn confirm_revoke(
    State(portal): State<Portal>,
    caller: Caller,
    Path(serial): Path<String>,
) -> Result<Response, PageError> {
    let card = portal.card(&caller.me, &serial).await?;
    let page = IntrekkenPage { csrf: caller.csrf, serial: card.issued.serial, houder: card.issued.holder_name };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /kaarten/{serial}/intrekken`: the confirmation.
pub async fn revoke(
    State(portal): State<Portal>,
    caller: Caller,
    Path(serial): Path<String>,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    change(portal, caller, CardAction::Revoke, serial, &form.csrf).await
}
