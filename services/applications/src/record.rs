//! An application as the service holds it: the stored row decoded into the
//! contract's message, and the views each caller gets of it.

use prost::Message;
use socialloans_contracts::applications::{Application, ApplicationState, ContactPerson};
use socialloans_contracts::common::Category;
use socialloans_platform::{Caller, Role, limits, stored::Document};

use crate::{error::Error, store::Row};

/// An application loaded for reading or change.
#[derive(Debug, Clone)]
pub struct Record {
    /// The row it came from (ids, times, revision).
    pub row: Row,
    /// The content and server-set fields, without the contact person.
    pub app: Application,
    /// The contact person: personal data.
    pub contact: ContactPerson,
    /// The life-cycle state.
    pub state: ApplicationState,
}

/// `ApplicationState::Draft` ↔ `DRAFT`.
pub fn state_name(state: ApplicationState) -> String {
    state.as_str_name().trim_start_matches("APPLICATION_STATE_").to_owned()
}

/// `Category::…` ↔ `HOUSING_AND_RESIDENTIAL_ENVIRONMENTS`.
pub fn category_name(category: i32) -> String {
    Category::try_from(category)
        .unwrap_or(Category::Unspecified)
        .as_str_name()
        .trim_start_matches("CATEGORY_")
        .to_owned()
}

socialloans_platform::stored_enum!(
    /// An application's state as the database keeps it: `ApplicationState::UnderReview` ↔ `UNDER_REVIEW`.
    pub struct StoredState(ApplicationState, "APPLICATION_STATE_");
);

/// The state a stored name stands for (UNSPECIFIED for none).
pub fn parse_state(name: &str) -> ApplicationState {
    StoredState::from_stored(name).map_or(ApplicationState::Unspecified, |s| s.0)
}

pub use socialloans_platform::timestamp;

/// The resource name of application `id`.
pub fn resource_name(id: uuid::Uuid) -> String {
    format!("applications/{id}")
}

/// Whether `caller` may see the contact person of an application of
/// `organization`: analysts, and the borrower of that organisation. It
/// follows the roles the caller acts in on the method called, not every role
/// its token holds.
pub fn sees_personal_data(caller: &Caller, organization: &str) -> bool {
    caller.has(Role::Analyst) || caller.is_borrower_of(organization)
}

impl Record {
    /// A new draft made of `draft` (its contact person kept apart), with a
    /// new id and `now` for its times.
    pub fn draft(mut draft: Application, now: chrono::DateTime<chrono::Utc>) -> Record {
        let organization_number = draft.borrower.as_ref().map(|b| b.organization_number.clone()).unwrap_or_default();
        let contact = draft.contact_person.take().unwrap_or_default();
        Record {
            row: Row {
                document: Document {
                    id: uuid::Uuid::now_v7(),
                    state: StoredState(ApplicationState::Unspecified),
                    revision: 1,
                    content: Vec::new(),
                    create_time: now,
                    update_time: now,
                },
                organization_number,
                category: String::new(),
                submit_time: None,
                contact_person: Vec::new(),
            },
            contact,
            app: draft,
            state: ApplicationState::Draft,
        }
    }

    /// Decodes a stored row.
    pub fn from_row(row: Row) -> Result<Record, Error> {
        let app = row.document.decode::<Application>()?;
        let contact = socialloans_platform::stored::document::<ContactPerson>(&row.contact_person)?;
        let state = row.document.state.0;
        Ok(Record { row, app, contact, state })
    }

    /// The row to store.
    pub fn to_row(&self) -> Row {
        let mut row = self.row.clone();
        row.document.state = StoredState(self.state);
        row.category = category_name(self.app.category);
        let mut content = self.app.clone();
        content.contact_person = None;
        row.document.content = content.encode_to_vec();
        row.contact_person = self.contact.encode_to_vec();
        row
    }

    /// The principal of every loan tagged so far, in öre (saturating).
    pub fn tagged_principal(&self) -> i64 {
        self.app.loans.iter().filter_map(|l| l.principal.as_ref()).map(|m| m.minor_units).fold(0, i64::saturating_add)
    }

    /// The etag of the current revision.
    pub fn etag(&self) -> String {
        self.row.document.etag()
    }

    /// The resource name.
    pub fn name(&self) -> String {
        resource_name(self.row.document.id)
    }

    /// The API view; the contact person only when `personal_data`.
    pub fn view(&self, personal_data: bool) -> Application {
        let contact = personal_data.then(|| self.contact.clone());
        self.shown(self.app.clone(), contact)
    }

    /// `app` with what the row says beside it, and `contact` as its contact person.
    fn shown(&self, mut app: Application, contact: Option<ContactPerson>) -> Application {
        app.name = self.name();
        app.state = self.state as i32;
        app.etag = self.etag();
        app.borrower.get_or_insert_with(Default::default).organization_number = self.row.organization_number.clone();
        app.contact_person = contact;
        app.create_time = Some(timestamp(self.row.document.create_time));
        app.update_time = Some(timestamp(self.row.document.update_time));
        app.submit_time = self.row.submit_time.map(timestamp);
        app
    }

    /// INVALID_ARGUMENT `TOO_LARGE` when the application, as stored and
    /// sent, would be larger than [`limits::MAX_APPLICATION_BYTES`].
    pub fn check_size(&self) -> Result<(), Error> {
        let size = self.view(true).encoded_len();
        limits::check_size("application", size, limits::MAX_APPLICATION_BYTES).map_err(Error::from)
    }

    /// INVALID_ARGUMENT `TOO_LARGE` when what the borrower authors (the
    /// editable content, contact person included) would be larger than
    /// [`limits::MAX_APPLICATION_CONTENT_BYTES`]; the rest of the whole is
    /// kept for what the lender adds.
    pub fn check_content_size(&self) -> Result<(), Error> {
        let size = crate::edit::authored(&self.view(true)).encoded_len();
        limits::check_size("application content", size, limits::MAX_APPLICATION_CONTENT_BYTES).map_err(Error::from)
    }

    /// The view `caller` gets: the contact person as [`sees_personal_data`]
    /// says; and for a caller acting only as a borrower, nothing of the
    /// lender's internal work — the credit assessment shows its outcome, not
    /// the credit analyst's summary, limit or case, and the analyst's
    /// referral note is left out.
    pub fn view_for(&self, caller: &Caller) -> Application {
        let mut app = self.view(sees_personal_data(caller, &self.row.organization_number));
        if caller.confined_to().is_some() {
            redact_internal(&mut app);
        }
        app
    }

    /// [`Record::view_for`], consuming the record: what a read answers,
    /// without copying the application it decoded.
    pub fn into_view_for(mut self, caller: &Caller) -> Application {
        let contact =
            sees_personal_data(caller, &self.row.organization_number).then(|| std::mem::take(&mut self.contact));
        let app = std::mem::take(&mut self.app);
        let mut app = self.shown(app, contact);
        if caller.confined_to().is_some() {
            redact_internal(&mut app);
        }
        app
    }

    /// The snapshot events carry: everything but personal data.
    pub fn snapshot(&self) -> Application {
        self.view(false)
    }
}

/// Leaves out of `app` what is the lender's internal work (see
/// [`Record::view_for`]).
pub fn redact_internal(app: &mut Application) {
    if let Some(credit) = app.credit_assessment.as_mut() {
        *credit = socialloans_contracts::applications::CreditAssessment {
            outcome: credit.outcome,
            assess_time: credit.assess_time,
            ..Default::default()
        };
    }
    app.referral_note.clear();
}

#[cfg(test)]
mod stored_state_tests {
    use super::*;

    #[test]
    fn a_state_is_stored_as_its_name_without_the_prefix_and_read_back_only_if_it_is_one() {
        for state in [ApplicationState::Draft, ApplicationState::UnderReview, ApplicationState::ApprovedWithConditions]
        {
            let stored = StoredState(state).stored();
            assert!(!stored.starts_with("APPLICATION_STATE_"), "{stored}");
            assert_eq!(StoredState::from_stored(stored), Some(StoredState(state)));
        }
        assert_eq!(StoredState(ApplicationState::UnderReview).stored(), "UNDER_REVIEW");
        for text in ["", "under_review", "APPLICATION_STATE_DRAFT", "DRAFT "] {
            assert_eq!(StoredState::from_stored(text), None, "{text:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::applications::{Borrower, ContactPerson, CreditAssessment};
    use socialloans_platform::Role;

    fn caller(role: Role, organization: Option<&str>) -> Caller {
        Caller {
            subject: "s".into(),
            roles: [role].into_iter().collect(),
            organization: organization.map(str::to_owned),
            expires_at: 0,
        }
    }

    #[test]
    fn a_read_shows_the_same_application_whether_the_record_is_kept_or_consumed() {
        let draft = Application {
            title: "Trygga hem".into(),
            borrower: Some(Borrower { organization_number: "556000-0001".into(), ..Default::default() }),
            contact_person: Some(ContactPerson { name: "Anna".into(), ..Default::default() }),
            credit_assessment: Some(CreditAssessment { summary: "internal".into(), ..Default::default() }),
            referral_note: "internal".into(),
            ..Default::default()
        };
        let record = Record::draft(draft, chrono::Utc::now());
        for who in [
            caller(Role::Analyst, None),
            caller(Role::Borrower, Some("556000-0001")),
            caller(Role::Borrower, Some("556000-0002")),
            caller(Role::Auditor, None),
        ] {
            assert_eq!(record.clone().into_view_for(&who), record.view_for(&who), "{:?}", who.roles);
        }
        let own = record.clone().into_view_for(&caller(Role::Borrower, Some("556000-0001")));
        assert_eq!(own.contact_person.map(|c| c.name).as_deref(), Some("Anna"));
        assert!(own.referral_note.is_empty(), "the lender's notes stay internal");
    }
}
