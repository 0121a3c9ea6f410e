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

/// The fields of an `Application` the service sets on every answer
/// ([`Record::view`]): name, state, etag, contact person and the create,
/// update and submit times. The borrower (4) is merged, not set.
const SERVER_SET: [u32; 7] = [1, 2, 3, 16, 28, 29, 30];
/// The fields a caller confined to its organisation never sees
/// ([`redact_internal`]): the credit assessment and the referral note.
const INTERNAL: [u32; 2] = [19, 26];
/// `Application.contact_person`.
const CONTACT_PERSON: u32 = 16;

/// What `caller` reads of `row`, as `Application`'s encoding without
/// decoding it: the stored bytes unchanged, then the fields the service
/// sets (protobuf lets them follow: a later scalar wins, a later message
/// merges), the contact person's stored bytes among them when the caller
/// may see it. Decoded, it is [`Record::into_view_for`] of the same row.
///
/// `None` when the row must be decoded instead: the stored bytes hold a
/// field the service sets (a stored answer would then be merged, not
/// replaced), the caller is confined to its organisation and they hold the
/// lender's internal work, or the row lacks what the answer needs.
pub fn spliced_view(row: &Row, caller: &Caller) -> Option<Vec<u8>> {
    let redacts = caller.confined_to().is_some();
    if holds_field(&row.document.content, |f| SERVER_SET.contains(&f) || (redacts && INTERNAL.contains(&f)))? {
        return None;
    }
    let state = row.document.state.0;
    if state == ApplicationState::Unspecified || row.organization_number.is_empty() {
        return None;
    }
    let set = Application {
        name: resource_name(row.document.id),
        state: state as i32,
        etag: row.document.etag(),
        borrower: Some(socialloans_contracts::applications::Borrower {
            organization_number: row.organization_number.clone(),
            ..Default::default()
        }),
        create_time: Some(timestamp(row.document.create_time)),
        update_time: Some(timestamp(row.document.update_time)),
        submit_time: row.submit_time.map(timestamp),
        ..Default::default()
    };
    let contact = sees_personal_data(caller, &row.organization_number).then_some(&row.contact_person);
    let contact_len = contact.map_or(0, |c| prost::encoding::bytes::encoded_len(CONTACT_PERSON, c));
    let mut out = Vec::with_capacity(row.document.content.len() + set.encoded_len() + contact_len);
    out.extend_from_slice(&row.document.content);
    set.encode_raw(&mut out);
    if let Some(contact) = contact {
        prost::encoding::bytes::encode(CONTACT_PERSON, contact, &mut out);
    }
    Some(out)
}

/// What `caller` reads of `row`, as `Application`'s encoding: spliced
/// ([`spliced_view`]) when it can be, else decoded, viewed and encoded.
pub fn encoded_view(row: Row, caller: &Caller) -> Result<Vec<u8>, Error> {
    match spliced_view(&row, caller) {
        Some(encoded) => Ok(encoded),
        None => Ok(Record::from_row(row)?.into_view_for(caller).encode_to_vec()),
    }
}

/// Whether an encoded message has a top-level field `wanted` picks, read
/// without decoding; `None` when it is not a well-formed encoding.
fn holds_field(mut encoded: &[u8], wanted: impl Fn(u32) -> bool) -> Option<bool> {
    use prost::encoding::{DecodeContext, decode_key, skip_field};
    let mut found = false;
    while !encoded.is_empty() {
        let (tag, wire_type) = decode_key(&mut encoded).ok()?;
        skip_field(wire_type, tag, &mut encoded, DecodeContext::default()).ok()?;
        found |= wanted(tag);
    }
    Some(found)
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
            organizations: organization.map(str::to_owned).into_iter().collect(),
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

    fn callers() -> [Caller; 5] {
        [
            caller(Role::Analyst, None),
            caller(Role::Borrower, Some("556000-0001")),
            caller(Role::Borrower, Some("556000-0002")),
            caller(Role::Auditor, None),
            caller(Role::CreditAnalyst, None),
        ]
    }

    /// A stored row of a submitted application, with or without the lender's internal work.
    fn stored(internal: bool) -> Row {
        use socialloans_contracts::{applications::LoanTag, common::Money};
        let draft = Application {
            title: "Trygga hem".into(),
            category: Category::HousingAndResidentialEnvironments as i32,
            borrower: Some(Borrower {
                organization_number: "556000-0001".into(),
                display_name: "Botkyrkabyggen".into(),
                ..Default::default()
            }),
            contact_person: Some(ContactPerson {
                name: "Anna".into(),
                email: "anna@example.se".into(),
                ..Default::default()
            }),
            sdg_targets: vec!["11.1".into(), "10.2".into()],
            loans: vec![LoanTag {
                loan_id: "L-1".into(),
                principal: Some(Money { currency_code: "SEK".into(), minor_units: 5 }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut record = Record::draft(draft, chrono::Utc::now());
        record.state = ApplicationState::UnderReview;
        record.row.document.revision = 7;
        record.row.submit_time = Some(chrono::Utc::now());
        if internal {
            record.app.credit_assessment = Some(CreditAssessment { summary: "internal".into(), ..Default::default() });
            record.app.referral_note = "internal".into();
        }
        record.to_row()
    }

    fn decoded_view(row: &Row, who: &Caller) -> Application {
        Record::from_row(row.clone()).expect("a stored row").into_view_for(who)
    }

    #[test]
    fn a_spliced_read_decodes_as_the_decoded_view_for_every_caller() {
        for internal in [false, true] {
            let row = stored(internal);
            for who in callers() {
                let encoded = encoded_view(row.clone(), &who).expect("a view");
                let read = Application::decode(encoded.as_slice()).expect("a valid encoding");
                assert_eq!(read, decoded_view(&row, &who), "internal {internal}, {:?}", who.roles);
                let spliced = spliced_view(&row, &who);
                // Only a confined caller of a row holding internal work needs decoding.
                assert_eq!(spliced.is_some(), !(internal && who.confined_to().is_some()), "{:?}", who.roles);
            }
        }
        let own = Application::decode(encoded_view(stored(true), &callers()[1]).unwrap().as_slice()).unwrap();
        assert_eq!(own.contact_person.map(|c| c.name).as_deref(), Some("Anna"));
        assert!(own.referral_note.is_empty() && own.credit_assessment.unwrap().summary.is_empty());
        let other = Application::decode(encoded_view(stored(false), &callers()[2]).unwrap().as_slice()).unwrap();
        assert_eq!(other.contact_person, None, "another borrower never sees the contact person");
    }

    #[test]
    fn stored_bytes_holding_a_field_the_service_sets_are_decoded_not_spliced() {
        let mut row = stored(false);
        let mut content = Application::decode(row.document.content.as_slice()).unwrap();
        for set in [
            |a: &mut Application| a.name = "applications/forged".into(),
            |a: &mut Application| a.etag = "\"999\"".into(),
            |a: &mut Application| a.state = ApplicationState::Approved as i32,
            |a: &mut Application| {
                a.contact_person = Some(ContactPerson { name: "Forged".into(), ..Default::default() })
            },
            |a: &mut Application| a.create_time = Some(prost_types::Timestamp { seconds: 1, nanos: 5 }),
        ] {
            let mut forged = content.clone();
            set(&mut forged);
            row.document.content = forged.encode_to_vec();
            let analyst = caller(Role::Analyst, None);
            assert_eq!(spliced_view(&row, &analyst), None);
            let read = Application::decode(encoded_view(row.clone(), &analyst).unwrap().as_slice()).unwrap();
            assert_eq!(read, decoded_view(&row, &analyst));
        }
        content.title = "x".into();
        row.document.content = content.encode_to_vec();
        row.document.content.push(0xff);
        assert_eq!(spliced_view(&row, &caller(Role::Analyst, None)), None, "a malformed encoding is not spliced");
        assert!(encoded_view(row, &caller(Role::Analyst, None)).is_err());
    }

    #[test]
    fn the_field_numbers_the_splice_relies_on_are_the_contracts() {
        let set = prost_types::FileDescriptorSet::decode(socialloans_contracts::FILE_DESCRIPTOR_SET).unwrap();
        let application = set
            .file
            .iter()
            .flat_map(|f| &f.message_type)
            .find(|m| m.name() == "Application")
            .expect("the Application message");
        let number = |name: &str| application.field.iter().find(|f| f.name() == name).map(|f| f.number() as u32);
        let server_set = ["name", "state", "etag", "contact_person", "create_time", "update_time", "submit_time"];
        assert_eq!(server_set.map(|n| number(n).unwrap()), SERVER_SET);
        assert_eq!(["credit_assessment", "referral_note"].map(|n| number(n).unwrap()), INTERNAL);
        assert_eq!(number("contact_person"), Some(CONTACT_PERSON));
        assert_eq!(number("borrower"), Some(4));
    }
}
