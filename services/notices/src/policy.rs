//! Who may call which method of the notices service: the one place to read
//! it. A borrower reaches only its own organisations' recipients and
//! notices; the handlers enforce that binding.

use socialloans_platform::{
    Policy,
    Role::{self, *},
};

const KEEPERS: &[Role] = &[Borrower, Analyst];
const READERS: &[Role] = &[Borrower, Analyst, ReportReviewer, CommitteeSecretary, Auditor];

/// The role table. A method not listed here is refused for everyone.
pub static POLICY: Policy = Policy {
    service: socialloans_contracts::notices::notices_service_server::SERVICE_NAME,
    methods: &[
        ("SetRecipient", KEEPERS),
        ("ListRecipients", &[Borrower, Analyst, Auditor]),
        ("DeleteRecipient", KEEPERS),
        ("ListCommunications", READERS),
        ("StreamEvents", &[Service, Auditor]),
    ],
};
