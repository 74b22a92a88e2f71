//! `GET`/`POST /beheerders`: the administrator's organisations with their beheerders, and the form to appoint
//! one (seed *Registreren organisatie*: the administrator appoints). Anyone else gets the 403 error page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use portal::{Organisation, Refusal};

use super::{Caller, PageError, PageForm, render};
use crate::service::{Portal, ServiceError};

/// One organisation.
struct Org {
    ura: String,
    naam: String,
    beheerders: Vec<String>,
}

#[derive(Template)]
#[template(path = "beheerders.html")]
struct BeheerdersPage {
    csrf: String,
    melding: Option<String>,
    organisaties: Vec<Org>,
    ura: String,
    uzi_nummer: String,
    uzi_fout: Option<String>,
}

/// `?gedaan=aangesteld` after a POST.
#[derive(Debug, Deserialize)]
pub struct Done {
    gedaan: Option<String>,
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub struct AppointForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ura: String,
    #[serde(default)]
    uzi_nummer: String,
}

fn orgs(administered: Vec<Organisation>) -> Vec<Org> {
    administered.into_iter().map(|o| Org { ura: o.subscriber_number, naam: o.name, beheerders: o.beheerders }).collect()
}

/// `GET /beheerders`.
pub async fn page(
    State(portal): State<Portal>,
    caller: Caller,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let organisaties = orgs(portal.administered(&caller.me).await?);
    let melding = (done.gedaan.as_deref() == Some("aangesteld")).then(|| "De beheerder is aangesteld.".to_string());
    let ura = caller.me.ura.clone();
    let page =
        BeheerdersPage { csrf: caller.csrf, melding, organisaties, ura, uzi_nummer: String::new(), uzi_fout: None };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /beheerders`: appoints, then 303 back; a refused UZI number comes back next to its field.
pub async fn submit(
    State(portal): State<Portal>,
    caller: Caller,
    PageForm(form): PageForm<AppointForm>,
) -> Result<Response, PageError> {
    caller.check(&form.csrf)?;
    let organisaties = orgs(portal.administered(&caller.me).await?);
    match portal.appoint(&caller.me, form.ura.clone(), form.uzi_nummer.trim().to_string()).await {
        Ok(_) => Ok(Redirect::to("/beheerders?gedaan=aangesteld").into_response()),
        Err(ServiceError::Refused(Refusal::Invalid(why))) => {
            let page = BeheerdersPage {
                csrf: caller.csrf,
                melding: None,
                organisaties,
                ura: form.ura,
                uzi_nummer: form.uzi_nummer,
                uzi_fout: Some(why),
            };
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}
