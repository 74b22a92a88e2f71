//! `GET`/`POST /organisatie`: Organisatie registreren (seed *Registreren organisatie*, "Valideren organisatie"
//! stap 2–3): only with a UZI-zorgverlenerspas; the URA is the one on the pass, the caller gives the name and
//! confirms. A registered organisation is a 409 error page; a refused name comes back next to the field.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use portal::Refusal;

use super::{Caller, PageError, PageForm, render};
use crate::service::{Portal, ServiceError};

#[derive(Template)]
#[template(path = "organisatie.html")]
struct OrganisatiePage {
    csrf: String,
    ura: String,
    naam: String,
    naam_fout: Option<String>,
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub struct OrganisatieForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    naam: String,
}

/// `GET /organisatie`.
pub async fn page(caller: Caller) -> Result<Response, PageError> {
    Portal::may_register(&caller.me)?;
    let page = OrganisatiePage { csrf: caller.csrf, ura: caller.me.ura, naam: String::new(), naam_fout: None };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /organisatie`: registers, then 303 to Start.
pub async fn submit(
    State(portal): State<Portal>,
    caller: Caller,
    PageForm(form): PageForm<OrganisatieForm>,
) -> Result<Response, PageError> {
    caller.check(&form.csrf)?;
    let refused = |why: String| OrganisatiePage {
        csrf: caller.csrf.clone(),
        ura: caller.me.ura.clone(),
        naam: form.naam.clone(),
        naam_fout: Some(why),
    };
    if form.naam.trim().is_empty() {
        let page = refused("Vul de naam van de organisatie in.".into());
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    match portal.register(&caller.me, form.naam.trim().to_string(), None).await {
        Ok(_) => Ok(Redirect::to("/?gedaan=organisatie").into_response()),
        Err(ServiceError::Refused(Refusal::Invalid(why))) => {
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &refused(why)))
        }
        Err(e) => Err(e.into()),
    }
}
