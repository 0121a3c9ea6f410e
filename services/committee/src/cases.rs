//! Cases: one per referred application, held exactly as referred, with the
//! committee's assessment of the five basic requirements and the members'
//! conflict-of-interest declarations.

use socialloans_contracts::committee::{Case, CaseState};

use crate::{
    error::Error,
    store::{Shown, cases::Row},
};

socialloans_platform::stored_enum!(
    /// A case's state as the database keeps it: `CaseState::Open` ↔ `OPEN`.
    pub struct StoredCaseState(CaseState, "CASE_STATE_");
);

/// `CaseState::Open` ↔ `OPEN`.
pub fn state_name(state: CaseState) -> String {
    StoredCaseState(state).stored().to_owned()
}

pub use socialloans_platform::timestamp;

/// The case `row` keeps, as the API shows it.
pub fn view(row: &Row) -> Result<Case, Error> {
    let Shown { name, etag, create_time, update_time } = Shown::of(row, "cases");
    Ok(Case { name, state: row.state.0 as i32, etag, create_time, update_time, ..row.decode()? })
}
