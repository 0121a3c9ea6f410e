//! Who may call which method of the applications service: the one place to read it.

use socialloans_platform::{Policy, Role::*};

/// The role table. A method not listed here is refused for everyone.
pub static POLICY: Policy = Policy {
    service: socialloans_contracts::applications::applications_service_server::SERVICE_NAME,
    methods: &[
        ("CreateApplication", &[Borrower, Analyst]),
        ("GetApplication", &[Borrower, Analyst, CreditAnalyst, CommitteeSecretary, CoreBanking, Auditor]),
        ("ListApplications", &[Borrower, Analyst, CreditAnalyst, CommitteeSecretary, CoreBanking, Auditor]),
        ("UpdateApplication", &[Borrower, Analyst]),
        ("SubmitApplication", &[Borrower]),
        ("ReturnApplicationForCompletion", &[Analyst]),
        ("StartReview", &[Analyst]),
        ("RecordCreditAssessment", &[CreditAnalyst]),
        ("ReferApplicationToCommittee", &[Analyst]),
        ("WithdrawApplication", &[Borrower]),
        ("TagLoan", &[CoreBanking]),
        ("RecordLoanEvent", &[CoreBanking]),
        ("CancelLoanTag", &[CoreBanking, Analyst]),
        ("ConfirmLoanTagCancellation", &[Analyst]),
        ("GetLoan", &[Borrower, Analyst, CreditAnalyst, CoreBanking, Treasury, Auditor]),
        ("ListLoans", &[Borrower, Analyst, CreditAnalyst, CoreBanking, Treasury, Auditor]),
        ("CloseApplication", &[CoreBanking]),
        ("EraseContactPerson", &[Analyst]),
        ("ListAuditEntries", &[Borrower, Analyst, CreditAnalyst, Auditor]),
        ("StreamEvents", &[Service, Auditor, CoreBanking, Borrower]),
    ],
};
