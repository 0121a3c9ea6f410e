//! Who may call which method of the bonds service: the one place to read
//! it. Treasury keeps the register and publishes its reports; analysts and
//! auditors read them; borrowers have no access.

use socialloans_platform::{
    Policy,
    Role::{self, *},
};

const KEEPERS: &[Role] = &[Treasury];
const READERS: &[Role] = &[Treasury, Analyst, Auditor];

/// The role table. A method not listed here is refused for everyone.
pub static POLICY: Policy = Policy {
    service: socialloans_contracts::bonds::bonds_service_server::SERVICE_NAME,
    methods: &[
        ("IssueBond", KEEPERS),
        ("ApproveBondOverride", KEEPERS),
        ("RejectBondOverride", KEEPERS),
        ("RecordRedemption", KEEPERS),
        ("GetBond", READERS),
        ("ListBonds", READERS),
        ("GetHeadroom", READERS),
        ("ForecastHeadroom", READERS),
        ("GetAllocationReport", READERS),
        ("GetInvestorImpactReport", READERS),
        ("ExportInvestorImpactReport", READERS),
        ("PublishReport", KEEPERS),
        ("GetReportVintage", READERS),
        ("ListReportVintages", READERS),
        ("StreamEvents", &[Service, Auditor]),
    ],
};
