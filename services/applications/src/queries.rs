//! Reading: lists with filters and stable pagination, and the history.

use chrono::{DateTime, Utc};
use socialloans_contracts::applications::{
    self as pb, ApplicationState, AuditEntry, ListApplicationsRequest, ListApplicationsResponse,
};
use socialloans_contracts::common;
use socialloans_contracts::common::Category;
use socialloans_platform::{
    Caller,
    error::FieldViolation,
    limits,
    pagination::{cut_page, cut_sequence_page, decode_position, decode_token, encode_token, page_size},
};
use uuid::Uuid;

use crate::{
    error::{Error, Own},
    record::{category_name, encoded_view, state_name, timestamp},
    service::{Applications, parse_name},
    store::{self, Cursor, ListFilter},
};

fn time(
    field: &str,
    value: &Option<prost_types::Timestamp>,
    violations: &mut Vec<FieldViolation>,
) -> Option<DateTime<Utc>> {
    limits::time_field(field, value.as_ref()?).map_err(|v| violations.push(v)).ok()
}

/// `ListApplications`.
pub async fn list(
    ops: &Applications,
    caller: &Caller,
    req: ListApplicationsRequest,
) -> Result<ListApplicationsResponse, Error> {
    let mut violations = Vec::new();
    let size = page_size(req.page_size).map_err(|v| violations.push(v)).unwrap_or_default();
    let mut states = Vec::new();
    for (field, value) in std::iter::once(("state".to_owned(), req.state))
        .chain(req.states.iter().enumerate().map(|(i, s)| (format!("states[{i}]"), *s)))
    {
        match ApplicationState::try_from(value) {
            Ok(ApplicationState::Unspecified) => {}
            Ok(state) => states.push(state_name(state)),
            Err(_) => violations.push(FieldViolation::new(field, format!("{value} is not an ApplicationState"))),
        }
    }
    states.sort();
    states.dedup();
    let category = match Category::try_from(req.category) {
        Ok(Category::Unspecified) => None,
        Ok(_) => Some(category_name(req.category)),
        Err(_) => {
            violations.push(FieldViolation::new("category", format!("{} is not a Category", req.category)));
            None
        }
    };
    // A borrower sees only its own organisation, whatever it asks for.
    let organization =
        caller.organization_filter(&req.organization_number).map_err(|v| violations.push(v)).ok().flatten();
    let submitted_after = time("submitted_after", &req.submitted_after, &mut violations);
    let submitted_before = time("submitted_before", &req.submitted_before, &mut violations);
    let updated_after = time("updated_after", &req.updated_after, &mut violations);
    let filter = ListFilter {
        organization_number: organization,
        states,
        category,
        submitted_after,
        submitted_before,
        updated_after,
    };
    let query = format!("{filter:?}");
    let after = decode_position::<Uuid>(&query, &req.page_token)
        .map_err(|v| violations.push(v))
        .ok()
        .flatten()
        .map(|(create_time, id)| Cursor { create_time, id });
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let mut rows = store::list(&ops.pool, &filter, after, size).await?;
    // A page ends at its size or at its byte budget, whichever comes first.
    let next_page_token = cut_page(
        &query,
        &mut rows,
        size,
        |r| r.document.content.len() + r.contact_person.len(),
        |r| r.document.position(),
    );
    let applications = rows.into_iter().map(|row| encoded_view(row, caller)).collect::<Result<_, Error>>()?;
    Ok(ListApplicationsResponse::spliced(applications, next_page_token))
}

/// History actions whose comment is the lender's internal note.
const INTERNAL_ACTIONS: [&str; 2] = ["REFER_TO_COMMITTEE", "RECORD_CREDIT_ASSESSMENT"];

/// `ListAuditEntries`: the history of one application, oldest first.
pub async fn history(
    ops: &Applications,
    caller: &Caller,
    req: pb::ListAuditEntriesRequest,
) -> Result<pb::ListAuditEntriesResponse, Error> {
    let mut violations = Vec::new();
    let id = parse_name("parent", &req.parent).map_err(|v| violations.push(v)).ok();
    let size = page_size(req.page_size).map_err(|v| violations.push(v)).unwrap_or_default();
    let after = match decode_token(&req.parent, &req.page_token) {
        Ok(Some(text)) => text
            .parse::<i64>()
            .map_err(|_| violations.push(FieldViolation::new("page_token", "is not a token this list returned")))
            .unwrap_or(0),
        Ok(None) => 0,
        Err(v) => {
            violations.push(v);
            0
        }
    };
    let Some(id) = id.filter(|_| violations.is_empty()) else {
        return Err(Error::InvalidArgument(violations));
    };
    // Reading the history needs the right to see the application.
    store::get(&ops.pool, id, caller.confined_to()).await?.ok_or_else(|| Error::NotFound(req.parent.clone()))?;
    let mut entries = store::history(&ops.pool, id, after, size).await?;
    let next_page_token = cut_sequence_page(&req.parent, &mut entries, size, |e| e.sequence);
    let state = |name: &Option<String>| {
        name.as_deref().map_or(ApplicationState::Unspecified, crate::record::parse_state) as i32
    };
    // A borrower sees what happened and in which role, not which of the
    // lender's staff did it, nor the lender's internal notes.
    let borrower_view = caller.confined_to().is_some();
    let audit_entries = entries
        .into_iter()
        .map(|mut e| {
            if borrower_view {
                if e.actor_role != socialloans_platform::Role::Borrower.as_str() {
                    e.actor_subject.clear();
                }
                if INTERNAL_ACTIONS.contains(&e.action.as_str()) {
                    e.comment.clear();
                }
            }
            e
        })
        .map(|e| AuditEntry {
            name: format!("{}/auditEntries/{}", req.parent, e.sequence),
            sequence: e.sequence,
            action: e.action,
            from_state: state(&e.from_state),
            to_state: state(&Some(e.to_state)),
            actor: Some(common::Actor {
                subject: e.actor_subject,
                role: e.actor_role,
                organization_number: e.actor_organization,
            }),
            occur_time: Some(timestamp(e.occur_time)),
            request_id: e.request_id.map(|r| r.to_string()).unwrap_or_default(),
            comment: e.comment,
            changed_fields: e.changed_fields,
            trace_id: e.trace_id,
        })
        .collect();
    Ok(pb::ListAuditEntriesResponse { audit_entries, next_page_token })
}

/// A loan row as the API answers it.
fn loan_of(row: store::LoanRow) -> Result<pb::Loan, Error> {
    let loan = <pb::LoanTag as prost::Message>::decode(row.content.as_slice())
        .map_err(|e| Error::Status(Box::new(tonic::Status::internal(format!("stored loan {}: {e}", row.loan_id)))))?;
    Ok(pb::Loan {
        application: crate::record::resource_name(row.application_id),
        organization_number: row.organization_number,
        loan: Some(loan),
    })
}

/// `GetLoan`: another organisation's loan is not found, as a missing one.
pub async fn get_loan(ops: &Applications, caller: &Caller, loan_id: &str) -> Result<pb::Loan, Error> {
    let violations = crate::edit::loan_id_violations(loan_id);
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let row = store::get_loan(&ops.pool, loan_id, caller.confined_to()).await?;
    let not_found = || Own::LoanNotFound { loan_id: loan_id.to_owned(), application: String::new() };
    loan_of(row.ok_or_else(|| Error::Own(not_found()))?)
}

/// `ListLoans`, soonest maturity first.
pub async fn list_loans(
    ops: &Applications,
    caller: &Caller,
    req: pb::ListLoansRequest,
) -> Result<pb::ListLoansResponse, Error> {
    let mut violations = Vec::new();
    let size = page_size(req.page_size).map_err(|v| violations.push(v)).unwrap_or_default();
    let application_id = (!req.application.is_empty())
        .then(|| parse_name("application", &req.application).map_err(|v| violations.push(v)).ok())
        .flatten();
    let organization_number =
        caller.organization_filter(&req.organization_number).map_err(|v| violations.push(v)).ok().flatten();
    let state = match pb::LoanState::try_from(req.state) {
        Ok(pb::LoanState::Unspecified) => None,
        Ok(state) => Some(store::StoredLoanState(state).stored().to_owned()),
        Err(_) => {
            violations.push(FieldViolation::new("state", format!("{} is not a LoanState", req.state)));
            None
        }
    };
    let maturing_before = req.maturing_before.as_ref().and_then(|d| {
        socialloans_platform::limits::date(d.year, d.month, d.day, i32::MIN..=i32::MAX).or_else(|| {
            violations.push(FieldViolation::new("maturing_before", "is not a calendar date"));
            None
        })
    });
    let updated_after = time("updated_after", &req.updated_after, &mut violations);
    let filter = store::LoanFilter { application_id, organization_number, state, maturing_before, updated_after };
    let query = format!("{filter:?}");
    let after = match decode_token(&query, &req.page_token) {
        Ok(Some(text)) => loan_cursor(&text).or_else(|| {
            violations.push(FieldViolation::new("page_token", "is not a token this list returned"));
            None
        }),
        Ok(None) => None,
        Err(v) => {
            violations.push(v);
            None
        }
    };
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let mut rows = store::list_loans(&ops.pool, &filter, after.as_ref(), size).await?;
    let mut next_page_token = String::new();
    if rows.len() > size as usize {
        rows.truncate(size as usize);
        if let Some(last) = rows.last() {
            let cursor = format!("{}/{}/{}", last.maturity_date, last.application_id, last.loan_id);
            next_page_token = encode_token(&query, &cursor);
        }
    }
    let loans = rows.into_iter().map(loan_of).collect::<Result<_, Error>>()?;
    Ok(pb::ListLoansResponse { loans, next_page_token })
}

/// A [`store::LoanCursor`] from its text, `date/application/loan id`.
fn loan_cursor(text: &str) -> Option<store::LoanCursor> {
    let mut parts = text.splitn(3, '/');
    let maturity_date = parts.next()?.parse().ok()?;
    let application_id = parts.next()?.parse().ok()?;
    let loan_id = parts.next()?.to_owned();
    Some(store::LoanCursor { maturity_date, application_id, loan_id })
}
