//! Cases: one per referred application, held exactly as referred, with the
//! committee's assessment of the five basic requirements and the members'
//! conflict-of-interest declarations.

use socialloans_contracts::committee::{Case, CaseState};

use crate::{error::Error, store::cases::Row};

socialloans_platform::stored_enum!(
    /// A case's state as the database keeps it: `CaseState::Open` ↔ `OPEN`.
    pub struct StoredCaseState(CaseState, "CASE_STATE_");
);

/// `CaseState::Open` ↔ `OPEN`.
pub fn state_name(state: CaseState) -> String {
    StoredCaseState(state).stored().to_owned()
}

pub use socialloans_platform::timestamp;

impl Row {
    /// The API view of the case.
    pub fn view(&self) -> Result<Case, Error> {
        let mut case = socialloans_platform::stored::document::<Case>(&self.content)?;
        case.name = format!("cases/{}", self.id);
        case.application = self.application.clone();
        case.state = self.state.0 as i32;
        case.etag = format!("\"{}\"", self.revision);
        case.organization_number = self.organization_number.clone();
        case.create_time = Some(timestamp(self.create_time));
        case.update_time = Some(timestamp(self.update_time));
        Ok(case)
    }

    /// The state.
    pub fn state(&self) -> CaseState {
        self.state.0
    }
}
