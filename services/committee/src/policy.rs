//! Who may call which method of the committee service: the one place to read it.
//! Borrowers appear once: the extract of the minutes on their own case.

use socialloans_platform::{
    Policy,
    Role::{self, *},
};

const COMMITTEE: &[Role] = &[CommitteeMember, CommitteeChair, CommitteeSecretary];
const READERS: &[Role] = &[CommitteeMember, CommitteeChair, CommitteeSecretary, Analyst, Auditor];
const SECRETARIAT: &[Role] = &[CommitteeSecretary];
const CHAIR_OR_SECRETARY: &[Role] = &[CommitteeChair, CommitteeSecretary];
const VOTERS: &[Role] = &[CommitteeMember, CommitteeChair];

/// The role table. A method not listed here is refused for everyone.
pub static POLICY: Policy = Policy {
    service: socialloans_contracts::committee::committee_service_server::SERVICE_NAME,
    methods: &[
        ("CreateMember", SECRETARIAT),
        ("GetMember", READERS),
        ("ListMembers", READERS),
        ("UpdateMember", SECRETARIAT),
        ("GetCase", READERS),
        ("ListCases", READERS),
        ("AssessRequirement", COMMITTEE),
        ("DeclareConflictOfInterest", COMMITTEE),
        ("CreateMeeting", SECRETARIAT),
        ("GetMeeting", READERS),
        ("ListMeetings", READERS),
        ("UpdateMeeting", SECRETARIAT),
        ("AddAgendaItem", SECRETARIAT),
        ("RemoveAgendaItem", SECRETARIAT),
        ("RecordAttendance", SECRETARIAT),
        ("StartMeeting", CHAIR_OR_SECRETARY),
        ("AdjournMeeting", CHAIR_OR_SECRETARY),
        ("CancelMeeting", CHAIR_OR_SECRETARY),
        ("AppointAdjuster", CHAIR_OR_SECRETARY),
        ("ApproveMinutes", &[CommitteeChair, CommitteeMember]),
        ("RenderMinutes", READERS),
        ("GetCaseExtract", &[CommitteeMember, CommitteeChair, CommitteeSecretary, Analyst, Auditor, Borrower]),
        ("CastVote", VOTERS),
        ("ListVotes", &[CommitteeMember, CommitteeChair, CommitteeSecretary, Auditor]),
        ("RecordDecision", SECRETARIAT),
        ("ConfirmDecision", &[CommitteeChair]),
        ("ProposeWrittenDecision", &[CommitteeChair]),
        ("AnswerWrittenProcedure", VOTERS),
        ("ListAuditEntries", &[CommitteeSecretary, Auditor]),
        ("ListHistoryEntries", &[CommitteeSecretary, Auditor]),
        ("VerifyAuditChain", &[CommitteeSecretary, Auditor]),
        ("GetChainHead", &[CommitteeSecretary, Auditor]),
        ("StreamEvents", &[Service, Auditor]),
    ],
};
