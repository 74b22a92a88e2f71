//! `GET`/`POST /medewerkers/nieuw`: Medewerker registreren (seed *Registratie gebruikers 2b*, stap 1–3): the
//! administrator or a beheerder enters the medewerker's UZI number, voornamen, achternaam and geboortedatum as
//! in the WID, the kind of WID, and confirms the face-to-face WID check. The field checks are the registry's
//! own (`NewMedewerker::problems`, portal/src/users.rs), each shown next to its field; nothing is stored then.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use portal::{MedewerkerField, NewMedewerker, Refusal, WidCheck, WidDocument};

use super::{Caller, PageError, PageForm, render};
use crate::service::{Portal, ServiceError};

/// The form's fields, as sent (kept to fill the form in again).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MedewerkerForm {
    csrf: String,
    ura: String,
    uzi_nummer: String,
    voornamen: String,
    achternaam: String,
    geboortedatum: String,
    wid_document: String,
    /// Present (`ja`) only when the box is ticked (HTML §4.10.18.3: an unchecked box is not sent).
    wid_gecontroleerd: Option<String>,
}

/// One text input.
struct Field {
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    fout: Option<String>,
}

#[derive(Template)]
#[template(path = "medewerker.html")]
struct MedewerkerPage {
    csrf: String,
    form: MedewerkerForm,
    organisaties: Vec<(String, String)>,
    velden: Vec<Field>,
    documenten: Vec<(&'static str, &'static str)>,
    wid_fout: Option<String>,
    algemeen_fout: Option<String>,
}

const DOCUMENTS: [(&str, &str); 4] = [
    ("paspoort", "Nederlands paspoort"),
    ("identiteitskaart", "Nederlandse identiteitskaart"),
    ("rijbewijs", "Nederlands rijbewijs"),
    ("vreemdelingendocument", "Nederlands vreemdelingendocument"),
];

fn form_page(
    caller: &Caller,
    organisaties: Vec<(String, String)>,
    form: MedewerkerForm,
    problems: &[(MedewerkerField, String)],
) -> MedewerkerPage {
    let fout = |field: MedewerkerField| problems.iter().find(|(f, _)| *f == field).map(|(_, why)| why.clone());
    let field =
        |id, label, kind, value: &str, which| Field { id, label, kind, value: value.to_string(), fout: fout(which) };
    let velden = vec![
        field("uzi_nummer", "UZI-nummer", "text", &form.uzi_nummer, MedewerkerField::UziNumber),
        field("voornamen", "Voornaam/namen", "text", &form.voornamen, MedewerkerField::FirstNames),
        field("achternaam", "Achternaam", "text", &form.achternaam, MedewerkerField::Surname),
        field("geboortedatum", "Geboortedatum", "date", &form.geboortedatum, MedewerkerField::BirthDate),
    ];
    MedewerkerPage {
        csrf: caller.csrf.clone(),
        organisaties,
        velden,
        documenten: DOCUMENTS.to_vec(),
        wid_fout: fout(MedewerkerField::WidCheck),
        algemeen_fout: None,
        form,
    }
}

async fn organisations(portal: &Portal, caller: &Caller) -> Result<Vec<(String, String)>, PageError> {
    let managed = portal.managed(&caller.me).await?;
    Ok(managed.into_iter().map(|o| (o.subscriber_number, o.name)).collect())
}

/// `GET /medewerkers/nieuw`: the empty form, for the administrator or a beheerder.
pub async fn page(State(portal): State<Portal>, caller: Caller) -> Result<Response, PageError> {
    let organisaties = organisations(&portal, &caller).await?;
    let form = MedewerkerForm { ura: caller.me.ura.clone(), ..MedewerkerForm::default() };
    Ok(render(StatusCode::OK, &form_page(&caller, organisaties, form, &[])))
}

/// `POST /medewerkers/nieuw`: stores the medewerker (303 to Gebruikers), or the form again with 422.
pub async fn submit(
    State(portal): State<Portal>,
    caller: Caller,
    PageForm(form): PageForm<MedewerkerForm>,
) -> Result<Response, PageError> {
    caller.check(&form.csrf)?;
    let organisaties = organisations(&portal, &caller).await?;
    let Some(document) = WidDocument::parse(&form.wid_document) else {
        let why = format!("unknown WID document `{}`: choose one of the list", form.wid_document);
        return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, why));
    };
    let new = NewMedewerker {
        uzi_number: form.uzi_nummer.trim().to_string(),
        first_names: form.voornamen.clone(),
        surname: form.achternaam.clone(),
        birth_date: form.geboortedatum.trim().to_string(),
        wid_check: WidCheck { document, checked: form.wid_gecontroleerd.is_some() },
    };
    let problems: Vec<(MedewerkerField, String)> =
        new.problems(portal.clock().now()).into_iter().map(|(f, r)| (f, r.to_string())).collect();
    if !problems.is_empty() {
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &form_page(&caller, organisaties, form, &problems)));
    }
    match portal.register_medewerker(&caller.me, form.ura.clone(), new).await {
        Ok(_) => Ok(Redirect::to("/gebruikers?gedaan=geregistreerd").into_response()),
        Err(ServiceError::Refused(Refusal::Invalid(why))) => {
            let mut page = form_page(&caller, organisaties, form, &[]);
            page.algemeen_fout = Some(why);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}
