//! The committee service so far, with the applications service where events
//! cross: a referral opens a case holding the application as referred; the
//! roster; assessments of the five basic requirements; conflicts of interest;
//! a withdrawal closes the case; borrowers never see cases.

use socialloans_contracts::common;
use std::time::Duration;

use e2e::{
    authorized,
    flow::{refer, rid, staff},
    meetings::{Committee, application_state, as_person, case_of, sek},
    pilots, reason, token,
};
use socialloans_contracts::{applications as ap, committee as cm};
use socialloans_platform::Role;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_referral_opens_a_case_that_the_committee_assesses_and_a_withdrawal_closes() {
    let suite = Committee::start().await;
    let (mut apps, mut committee) = (suite.apps.clone(), suite.client.clone());

    // The roster.
    let member = |display_name: &str, role: cm::MemberRole| cm::Member {
        display_name: display_name.into(),
        role: role as i32,
        term_start: Some(common::Date { year: 2026, month: 1, day: 1 }),
        subject: format!("idp|{display_name}"),
        ..Default::default()
    };
    let lena = committee
        .create_member(staff(
            cm::CreateMemberRequest { request_id: rid(), member: Some(member("Lena", cm::MemberRole::Member)) },
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    let bad = cm::Member {
        term_end: Some(common::Date { year: 2025, month: 1, day: 1 }),
        ..member("Per", cm::MemberRole::Unspecified)
    };
    let err = committee
        .create_member(staff(
            cm::CreateMemberRequest { request_id: rid(), member: Some(bad) },
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let roster = committee
        .list_members(staff(cm::ListMembersRequest::default(), Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(roster.len(), 1);

    // A referral opens a case holding the application as referred; the application learns its case.
    let application = refer(&mut apps, pilots::botkyrkabyggen()).await;
    let case = case_of(&mut committee, &application).await;
    assert_eq!(case.state, cm::CaseState::Open as i32);
    assert_eq!(case.organization_number, pilots::BOTKYRKABYGGEN);
    assert_eq!(case.requested_amount.as_ref().unwrap().minor_units, 400_000_000 * 100);
    let snapshot: ap::Application =
        prost::Message::decode(case.application_snapshot.as_ref().unwrap().value.as_slice()).unwrap();
    assert_eq!(snapshot.title, pilots::botkyrkabyggen().title);
    assert!(snapshot.contact_person.is_none(), "the snapshot carries no personal data");
    let mut linked = String::new();
    for _ in 0..200 {
        let got = apps
            .get_application(staff(ap::GetApplicationRequest { name: application.clone() }, Role::Analyst))
            .await
            .unwrap()
            .into_inner();
        linked = got.application.unwrap().committee_case;
        if !linked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(linked, case.name, "the applications service recorded the case from the committee's feed");

    // Borrowers never see cases.
    let borrower = authorized(
        cm::GetCaseRequest { name: case.name.clone() },
        &token(&[Role::Borrower], Some(pilots::BOTKYRKABYGGEN)),
    );
    assert_eq!(committee.get_case(borrower).await.unwrap_err().code(), Code::PermissionDenied);

    // Assessments, one per requirement, replaced when assessed again.
    let assess = |requirement: cm::BasicRequirement, verdict: cm::RequirementVerdict| cm::AssessRequirementRequest {
        name: case.name.clone(),
        request_id: rid(),
        assessment: Some(cm::RequirementAssessment {
            requirement: requirement as i32,
            verdict: verdict as i32,
            justification: "Se ansökan".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // A committee token whose subject is on no roster entry assesses nothing.
    let stranger = committee
        .assess_requirement(staff(
            assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::PartiallyMet),
            Role::CommitteeMember,
        ))
        .await
        .unwrap_err();
    assert_eq!((stranger.code(), reason(&stranger).as_str()), (Code::PermissionDenied, "NOT_A_MEMBER"));
    committee
        .assess_requirement(as_person(
            "idp|Lena",
            &[Role::CommitteeMember],
            assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::PartiallyMet),
        ))
        .await
        .unwrap();
    let assessed = committee
        .assess_requirement(staff(
            assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::Met),
            Role::CommitteeSecretary,
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(assessed.requirement_assessments.len(), 1);
    assert_eq!(assessed.requirement_assessments[0].verdict, cm::RequirementVerdict::Met as i32);
    let unknown = assess(cm::BasicRequirement::Unspecified, cm::RequirementVerdict::Met);
    assert_eq!(
        committee.assess_requirement(staff(unknown, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let stale = cm::AssessRequirementRequest {
        etag: "\"1\"".into(),
        ..assess(cm::BasicRequirement::LongTerm, cm::RequirementVerdict::Met)
    };
    assert_eq!(
        committee.assess_requirement(staff(stale, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::Aborted
    );

    // A conflict of interest, once per member.
    let declare = || cm::DeclareConflictOfInterestRequest {
        parent: case.name.clone(),
        request_id: rid(),
        declaration: Some(cm::ConflictOfInterestDeclaration {
            member: lena.name.clone(),
            description: "Styrelseledamot i låntagaren".into(),
            ..Default::default()
        }),
    };
    // A member declares only for themself; the secretary records it for anyone.
    let other = committee
        .declare_conflict_of_interest(as_person("olof", &[Role::CommitteeMember], declare()))
        .await
        .unwrap_err();
    assert_eq!((other.code(), reason(&other).as_str()), (Code::PermissionDenied, "NOT_THE_MEMBER"));
    // A member is named one way: another spelling of the id is refused, so
    // that no comparison of names can miss a declaration.
    let shouting = cm::DeclareConflictOfInterestRequest {
        declaration: Some(cm::ConflictOfInterestDeclaration {
            member: format!("members/{}", lena.name.trim_start_matches("members/").to_uppercase()),
            description: "Styrelseledamot i låntagaren".into(),
            ..Default::default()
        }),
        ..declare()
    };
    let refused = committee.declare_conflict_of_interest(staff(shouting, Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let declared = committee
        .declare_conflict_of_interest(staff(declare(), Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .declaration
        .unwrap();
    assert_eq!(declared.member, lena.name);
    assert_eq!(
        committee.declare_conflict_of_interest(staff(declare(), Role::CommitteeSecretary)).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    // Once conflicted, Lena assesses the case no more, in any role.
    for roles in [&[Role::CommitteeMember][..], &[Role::CommitteeSecretary]] {
        let refused = committee
            .assess_requirement(as_person(
                "idp|Lena",
                roles,
                assess(cm::BasicRequirement::DefinedTargetGroup, cm::RequirementVerdict::NotMet),
            ))
            .await
            .unwrap_err();
        assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "MEMBER_CONFLICTED"));
    }

    // On the agenda of a meeting still to come…
    let create = cm::CreateMeetingRequest {
        request_id: rid(),
        meeting: Some(cm::Meeting {
            title: "Möte".into(),
            start_time: Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
            ..Default::default()
        }),
    };
    let meeting =
        committee.create_meeting(staff(create, Role::CommitteeSecretary)).await.unwrap().into_inner().meeting.unwrap();
    let add = cm::AddAgendaItemRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        case: case.name.clone(),
        ..Default::default()
    };
    committee.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap();

    // …the borrower withdraws: the case closes as withdrawn and leaves the agenda.
    let withdraw = authorized(
        ap::WithdrawApplicationRequest {
            name: application.clone(),
            request_id: rid(),
            reason: "Annan finansiering".into(),
            ..Default::default()
        },
        &token(&[Role::Borrower], Some(pilots::BOTKYRKABYGGEN)),
    );
    apps.withdraw_application(withdraw).await.unwrap();
    let mut state = 0;
    for _ in 0..200 {
        state = committee
            .get_case(staff(cm::GetCaseRequest { name: case.name.clone() }, Role::Auditor))
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap()
            .state;
        if state == cm::CaseState::Withdrawn as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, cm::CaseState::Withdrawn as i32);
    let get = cm::GetMeetingRequest { name: meeting.name.clone() };
    let agenda = committee.get_meeting(staff(get, Role::Auditor)).await.unwrap().into_inner().meeting.unwrap().agenda;
    assert!(agenda.is_empty(), "a withdrawn case leaves the agenda: {agenda:?}");
    let late = assess(cm::BasicRequirement::LongTerm, cm::RequirementVerdict::Met);
    assert_eq!(
        committee.assess_requirement(staff(late, Role::CommitteeMember)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    suite.stop().await;
}

/// A token for `subject` with `roles`.
#[tokio::test]
async fn the_pilot_cases_are_decided_confirmed_minuted_frozen_amended_and_chained() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let olof = c.member("Olof", cm::MemberRole::Member, None).await;
    let maja = c.member("Maja", cm::MemberRole::Member, None).await;
    let _nils = c.member("Nils", cm::MemberRole::Member, None).await;
    let gustav =
        c.member("Gustav", cm::MemberRole::Member, Some(common::Date { year: 2025, month: 12, day: 31 })).await;
    let _sara = c.member("Sara", cm::MemberRole::Secretary, None).await;

    let botkyrka_app = refer(&mut c.apps, pilots::botkyrkabyggen()).await;
    let eidar_app = refer(&mut c.apps, pilots::eidar()).await;
    let botkyrka = case_of(&mut c.client, &botkyrka_app).await.name;
    let eidar = case_of(&mut c.client, &eidar_app).await.name;
    c.declare_conflict(&botkyrka, &lena, "lena", "Sitter i Botkyrkabyggens styrelse").await;

    // Not every requirement assessed: no decision yet.
    let meeting = c.meeting("Kommitténs möte Q4", &[&botkyrka, &eidar], &[&carl, &lena, &olof, &maja]).await;
    // A former member cannot be recorded present.
    let attend = cm::RecordAttendanceRequest {
        name: meeting.clone(),
        request_id: rid(),
        member: gustav.clone(),
        status: cm::AttendanceStatus::Present as i32,
        ..Default::default()
    };
    let gone = c.client.record_attendance(staff(attend, Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!((gone.code(), reason(&gone).as_str()), (Code::FailedPrecondition, "MEMBER_NOT_IN_TERM"));
    let early = c
        .record(
            "sara",
            &[Role::CommitteeSecretary],
            &eidar,
            cm::Decision {
                outcome: cm::DecisionOutcome::Approve as i32,
                approved_amount: sek(75_000_000),
                rationale: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!((early.code(), reason(&early).as_str()), (Code::FailedPrecondition, "REQUIREMENTS_NOT_ASSESSED"));
    c.assess_all(&botkyrka).await;
    c.assess_all(&eidar).await;

    // Who may vote: not the conflicted, not the absent, not the former member.
    let conflicted = c.vote("Lena", &botkyrka, cm::VoteChoice::Approve, "").await.unwrap_err();
    assert_eq!((conflicted.code(), reason(&conflicted).as_str()), (Code::PermissionDenied, "MEMBER_CONFLICTED"));
    let absent = c.vote("Nils", &botkyrka, cm::VoteChoice::Approve, "").await.unwrap_err();
    assert_eq!((absent.code(), reason(&absent).as_str()), (Code::FailedPrecondition, "MEMBER_NOT_PRESENT"));
    let former = c.vote("Gustav", &botkyrka, cm::VoteChoice::Approve, "").await.unwrap_err();
    assert_eq!((former.code(), reason(&former).as_str()), (Code::PermissionDenied, "MEMBER_NOT_IN_TERM"));
    let secretary = c.vote("Sara", &botkyrka, cm::VoteChoice::Approve, "").await.unwrap_err();
    assert_eq!((secretary.code(), reason(&secretary).as_str()), (Code::PermissionDenied, "NOT_A_VOTING_MEMBER"));
    c.vote("Carl", &botkyrka, cm::VoteChoice::ApproveWithConditions, "").await.unwrap();
    c.vote("Olof", &botkyrka, cm::VoteChoice::ApproveWithConditions, "").await.unwrap();
    c.vote("Maja", &botkyrka, cm::VoteChoice::Decline, "Risk för hyreshöjningar").await.unwrap();
    for who in ["Carl", "Lena", "Olof"] {
        c.vote(who, &eidar, cm::VoteChoice::Approve, "").await.unwrap();
    }

    // The decision must follow the votes and stay within the amount applied for.
    let condition = cm::Condition {
        id: "c1".into(),
        kind: common::ConditionKind::ReportingCovenant as i32,
        description: "Rapportera andel kvarboende årligen".into(),
        due_date: Some(common::Date { year: 2027, month: 3, day: 31 }),
    };
    let with_conditions = |amount| cm::Decision {
        outcome: cm::DecisionOutcome::ApproveWithConditions as i32,
        approved_amount: sek(amount),
        conditions: vec![condition.clone()],
        rationale: "Uppfyller grundkraven; kvarboendet ska följas upp".into(),
        ..Default::default()
    };
    let against_votes = c
        .record(
            "sara",
            &[Role::CommitteeSecretary],
            &botkyrka,
            cm::Decision {
                outcome: cm::DecisionOutcome::Approve as i32,
                conditions: vec![],
                ..with_conditions(400_000_000)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (against_votes.code(), reason(&against_votes).as_str()),
        (Code::FailedPrecondition, "DECISION_INCONSISTENT_WITH_VOTES")
    );
    let too_much =
        c.record("sara", &[Role::CommitteeSecretary], &botkyrka, with_conditions(500_000_000)).await.unwrap_err();
    assert_eq!(
        (too_much.code(), reason(&too_much).as_str()),
        (Code::FailedPrecondition, "APPROVED_AMOUNT_ABOVE_REQUESTED")
    );

    // A slip is corrected before confirmation: recording again supersedes it.
    let slip = c.record("sara", &[Role::CommitteeSecretary], &botkyrka, with_conditions(40_000_000)).await.unwrap();
    // Four eyes: whoever records cannot confirm, even holding the chair's role too.
    let both = [Role::CommitteeSecretary, Role::CommitteeChair];
    let recorded = c.record("acting", &both, &botkyrka, with_conditions(400_000_000)).await.unwrap();
    let superseded = c.confirm("carl", &[Role::CommitteeChair], &slip.name).await.unwrap_err();
    assert_eq!(reason(&superseded), "DECISION_NOT_RECORDED", "a superseded record cannot be confirmed");
    let case_now = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: botkyrka.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let states: Vec<i32> = case_now.decisions.iter().map(|d| d.state).collect();
    assert_eq!(states, [cm::DecisionState::Superseded as i32, cm::DecisionState::Recorded as i32]);
    assert_eq!(recorded.state, cm::DecisionState::Recorded as i32);
    assert_eq!(recorded.dissents.len(), 1, "Maja's dissent is recorded");
    let own = c.confirm("acting", &both, &recorded.name).await.unwrap_err();
    assert_eq!((own.code(), reason(&own).as_str()), (Code::PermissionDenied, "FOUR_EYES_VIOLATION"));
    let confirmed = c.confirm("carl", &[Role::CommitteeChair], &recorded.name).await.unwrap();
    assert_eq!(confirmed.state, cm::DecisionState::Confirmed as i32);
    let approve = cm::Decision {
        outcome: cm::DecisionOutcome::Approve as i32,
        approved_amount: sek(75_000_000),
        rationale: "Levande centrum".into(),
        ..Default::default()
    };
    let eidar_decision = c.record("sara", &[Role::CommitteeSecretary], &eidar, approve).await.unwrap();
    c.confirm("carl", &[Role::CommitteeChair], &eidar_decision.name).await.unwrap();

    // Only confirmed decisions leave the service; the applications service applies them.
    assert!(application_state(&mut c.apps, &botkyrka_app, ap::ApplicationState::ApprovedWithConditions).await);
    assert!(application_state(&mut c.apps, &eidar_app, ap::ApplicationState::Approved).await);

    // Minutes: written at adjournment, approved by the chair, freezing the decisions.
    let adjourn = cm::AdjournMeetingRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
    let adjourned =
        c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap().into_inner().meeting.unwrap();
    for text in [
        "- Carl, ordförande\n",
        "Lena anmäler jäv (Sitter i Botkyrkabyggens styrelse)",
        "Reservation: Maja reserverar sig mot beslutet: Risk för hyreshöjningar",
        "**Beslut:** Beviljas med villkor. Beviljat belopp: 400 000 000 kr.",
        "Rapportera andel kvarboende",
        "bekräftat av Carl.",
        "Protokollet är ännu inte justerat.",
    ] {
        assert!(adjourned.minutes.contains(text), "{text:?} not in the minutes:\n{}", adjourned.minutes);
    }
    c.justera(&meeting, &olof, "olof").await;
    let case = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: eidar.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert!(case.decisions[0].frozen);

    // A frozen decision is never edited: a change is an amendment with its own four eyes.
    let late = cm::AssessRequirementRequest {
        name: eidar.clone(),
        request_id: rid(),
        assessment: Some(cm::RequirementAssessment { requirement: 1, verdict: 3, ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(
        c.client.assess_requirement(staff(late, Role::CommitteeSecretary)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let amendment = cm::Decision {
        outcome: cm::DecisionOutcome::Approve as i32,
        approved_amount: sek(70_000_000),
        rationale: "Rättat belopp".into(),
        ..Default::default()
    };
    let amended = c.record("sara", &[Role::CommitteeSecretary], &eidar, amendment).await.unwrap();
    assert_eq!(reason(&c.confirm("sara", &both, &amended.name).await.unwrap_err()), "FOUR_EYES_VIOLATION");
    c.confirm("carl", &[Role::CommitteeChair], &amended.name).await.unwrap();
    let case = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: eidar.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let states: Vec<i32> = case.decisions.iter().map(|d| d.state).collect();
    assert_eq!(states, [cm::DecisionState::Superseded as i32, cm::DecisionState::Confirmed as i32]);
    // The amendment leaves the service, and the application follows it.
    let mut amount = 0;
    for _ in 0..200 {
        let get = ap::GetApplicationRequest { name: eidar_app.clone() };
        let app = c.apps.get_application(staff(get, Role::Auditor)).await.unwrap().into_inner().application.unwrap();
        amount = app.approved_amount.map(|m| m.minor_units).unwrap_or_default();
        if amount == 70_000_000 * 100 {
            assert_eq!(app.committee_decision.unwrap().decision, amended.name);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(amount, 70_000_000 * 100, "the amended amount reached the application");

    // The history shows every change to the case, who made it and how.
    let history = cm::ListHistoryEntriesRequest { resource: eidar.clone(), page_size: 200, ..Default::default() };
    let entries =
        c.client.list_history_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().history_entries;
    let steps: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .filter(|e| e.resource == eidar)
        .map(|e| {
            (e.action.as_str(), e.from_state.as_str(), e.to_state.as_str(), e.actor.as_ref().unwrap().subject.as_str())
        })
        .filter(|(_, from, to, _)| from != to)
        .collect();
    assert_eq!(
        steps,
        [
            ("socialloans.applications.v1.ApplicationReferredToCommittee", "", "OPEN", "committee"),
            ("AddAgendaItem", "OPEN", "SCHEDULED", "test-committee_secretary"),
            ("RecordDecision", "SCHEDULED", "DECISION_RECORDED", "sara"),
            ("ConfirmDecision", "DECISION_RECORDED", "DECIDED", "carl"),
        ],
        "the case's state changes, in order"
    );
    let assessed = entries.iter().filter(|e| e.action == "AssessRequirement").count();
    assert_eq!(assessed, 5, "each assessment is a change of the case");
    let votes: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.resource.starts_with(&format!("{eidar}/votes/")))
        .map(|e| (e.operation.as_str(), e.to_state.as_str()))
        .collect();
    assert_eq!(votes, [("INSERT", "APPROVE"); 3], "the three votes on Eidar");
    let cast = entries.iter().find(|e| e.action == "CastVote").unwrap();
    assert_eq!(cast.actor.as_ref().unwrap().role, "committee_member");
    assert!(!cast.request_id.is_empty(), "each change names its request");
    let admin_pool = sqlx::PgPool::connect(&c.db.service_url("committee")).await.unwrap();
    let erased = sqlx::query("DELETE FROM committee.history").execute(&admin_pool).await.unwrap_err();
    assert_eq!(erased.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"), "append-only");

    // An auditor recomputes every hash from what ListAuditEntries shows, by
    // the formula audit.proto documents, without trusting the service.
    let listed = c
        .client
        .list_audit_entries(staff(cm::ListAuditEntriesRequest { page_size: 200, ..Default::default() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .audit_entries;
    assert!(listed.len() >= 7, "{} entries", listed.len());
    let mut previous = "0".repeat(64);
    for entry in &listed {
        use sha2::Digest;
        let actor = entry.actor.clone().unwrap();
        let time = entry.occur_time.unwrap();
        let micros = (time.seconds * 1_000_000 + i64::from(time.nanos) / 1000).to_string();
        let sequence = entry.sequence.to_string();
        let mut h = sha2::Sha256::new();
        for field in [
            sequence.as_str(),
            &entry.action,
            &entry.resource,
            &actor.subject,
            &actor.role,
            &micros,
            &entry.request_id,
            &entry.summary,
            &entry.payload_sha256,
            &entry.previous_hash,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        let hash: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(entry.previous_hash, previous, "entry {} links to its predecessor", entry.sequence);
        assert_eq!(entry.hash, hash, "entry {} recomputes", entry.sequence);
        previous = hash;
    }

    // The chain verifies; a superuser's edit is found; the service's role cannot edit it.
    let verify = || cm::VerifyAuditChainRequest::default();
    let ok = c.client.verify_audit_chain(staff(verify(), Role::Auditor)).await.unwrap().into_inner();
    assert!(ok.valid && ok.verified_count >= 7, "{ok:?}");
    let role_pool = sqlx::PgPool::connect(&c.db.service_url("committee")).await.unwrap();
    let denied = sqlx::query("UPDATE committee.audit_chain SET summary = 'x'").execute(&role_pool).await.unwrap_err();
    assert_eq!(denied.as_database_error().and_then(|e| e.code()).as_deref(), Some("42501"));
    let admin = sqlx::PgPool::connect(&c.db.admin_url()).await.unwrap();
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("ALTER TABLE committee.audit_chain DISABLE TRIGGER audit_chain_is_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE committee.audit_chain SET summary = 'DECISION_RECORDED DECLINE' WHERE sequence = 3")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE committee.audit_chain ENABLE TRIGGER audit_chain_is_append_only")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let broken = c.client.verify_audit_chain(staff(verify(), Role::Auditor)).await.unwrap().into_inner();
    assert!(!broken.valid);
    assert_eq!(broken.first_invalid_sequence, 3);
    c.stop().await;
}

#[tokio::test]
async fn without_quorum_no_decision_and_conflicts_that_break_quorum_defer_the_case() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let olof = c.member("Olof", cm::MemberRole::Member, None).await;
    let _maja = c.member("Maja", cm::MemberRole::Member, None).await;
    let _pia = c.member("Pia", cm::MemberRole::Chair, Some(common::Date { year: 2025, month: 12, day: 31 })).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    c.assess_all(&case).await;

    // Two of four present: a quorum needs three.
    let meeting_name = c.meeting("Möte utan kvorum", &[&case], &[&carl, &olof]).await;
    assert_eq!(c.standing(&meeting_name).await, (3, 2, false), "quorum, eligible present, quorate");
    c.vote("Carl", &case, cm::VoteChoice::Approve, "").await.unwrap();
    let approve = || cm::Decision {
        outcome: cm::DecisionOutcome::Approve as i32,
        approved_amount: sek(75_000_000),
        rationale: "Bra".into(),
        ..Default::default()
    };
    let no_quorum = c.record("sara", &[Role::CommitteeSecretary], &case, approve()).await.unwrap_err();
    assert_eq!((no_quorum.code(), reason(&no_quorum).as_str()), (Code::FailedPrecondition, "NO_QUORUM"));

    // Three present, but one is conflicted: the quorum breaks and the case is deferred.
    let attend = |meeting: &str| cm::RecordAttendanceRequest {
        name: meeting.into(),
        request_id: rid(),
        member: lena.clone(),
        status: cm::AttendanceStatus::Present as i32,
        ..Default::default()
    };
    let meeting = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .meeting;
    c.client.record_attendance(staff(attend(&meeting), Role::CommitteeSecretary)).await.unwrap();
    assert_eq!(c.standing(&meeting).await, (3, 3, true), "Lena's arrival makes the case quorate");
    c.vote("Olof", &case, cm::VoteChoice::Approve, "Innan jag insåg jäven").await.unwrap();
    let conflict = cm::DeclareConflictOfInterestRequest {
        parent: case.clone(),
        request_id: rid(),
        declaration: Some(cm::ConflictOfInterestDeclaration {
            member: olof.clone(),
            description: "Konsult åt Eidar".into(),
            ..Default::default()
        }),
    };
    c.client.declare_conflict_of_interest(as_person("olof", &[Role::CommitteeMember], conflict)).await.unwrap();
    let votes = c
        .client
        .list_votes(staff(cm::ListVotesRequest { parent: case.clone(), ..Default::default() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .votes;
    assert_eq!(
        votes.iter().map(|v| v.member.as_str()).collect::<Vec<_>>(),
        [carl.as_str()],
        "Olof's vote is discarded"
    );
    assert_eq!(c.standing(&meeting).await, (3, 2, false), "Olof's conflict breaks it, and the meeting shows it");
    let broken = c.record("sara", &[Role::CommitteeSecretary], &case, approve()).await.unwrap_err();
    assert_eq!((broken.code(), reason(&broken).as_str()), (Code::FailedPrecondition, "CONFLICTS_BREAK_QUORUM"));
    let defer = cm::Decision {
        outcome: cm::DecisionOutcome::Defer as i32,
        rationale: "Till nästa möte".into(),
        ..Default::default()
    };
    let deferral = c.record("sara", &[Role::CommitteeSecretary], &case, defer).await.unwrap();
    assert_eq!(deferral.state, cm::DecisionState::Recorded as i32, "a deferral, too, waits for four eyes");
    let own = c.confirm("sara", &[Role::CommitteeChair], &deferral.name).await.unwrap_err();
    assert_eq!(reason(&own), "FOUR_EYES_VIOLATION");
    // A conflicted member confirms nothing on the case, even with the chair's role;
    // nor does a chair's token that names nobody on the roster.
    let conflicted = c.confirm("olof", &[Role::CommitteeChair], &deferral.name).await.unwrap_err();
    assert_eq!((conflicted.code(), reason(&conflicted).as_str()), (Code::PermissionDenied, "MEMBER_CONFLICTED"));
    let nobody = c.confirm("nobody", &[Role::CommitteeChair], &deferral.name).await.unwrap_err();
    assert_eq!(reason(&nobody), "NOT_A_MEMBER");
    let former = c.confirm("pia", &[Role::CommitteeChair], &deferral.name).await.unwrap_err();
    assert_eq!(reason(&former), "MEMBER_NOT_IN_TERM", "a former chair confirms nothing");
    c.confirm("carl", &[Role::CommitteeChair], &deferral.name).await.unwrap();
    let again =
        cm::AddAgendaItemRequest { name: meeting.clone(), request_id: rid(), case: case.clone(), ..Default::default() };
    let twice = c.client.add_agenda_item(staff(again, Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(reason(&twice), "CASE_ALREADY_ON_AGENDA", "deferred here, it goes to a later meeting");
    let deferred = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!((deferred.state, deferred.deferral_count), (cm::CaseState::Deferred as i32, 1));

    // The applications service records the deferral in the application's history.
    let mut seen = false;
    for _ in 0..200 {
        let history = ap::ListAuditEntriesRequest { parent: application.clone(), ..Default::default() };
        let entries =
            c.apps.list_audit_entries(staff(history, Role::Auditor)).await.unwrap().into_inner().audit_entries;
        if entries.iter().any(|e| e.action == "COMMITTEE_DEFERRED") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the deferral reached the applications service");
    c.stop().await;
}

#[tokio::test]
async fn a_member_whose_term_is_ended_no_longer_votes_and_a_case_leaves_the_agenda_open() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let olof = c.member("Olof", cm::MemberRole::Member, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    let meeting = c.meeting("Möte", &[&case], &[&carl, &olof]).await;
    c.vote("Olof", &case, cm::VoteChoice::Approve, "").await.unwrap();

    // The secretariat ends Olof's term (yesterday): he takes no further part.
    let current = c
        .client
        .get_member(staff(cm::GetMemberRequest { name: olof.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    let stale = cm::UpdateMemberRequest {
        request_id: rid(),
        member: Some(cm::Member {
            name: olof.clone(),
            term_end: Some(common::Date { year: 2025, month: 12, day: 31 }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["term_end".into()] }),
        etag: "\"99\"".into(),
    };
    assert_eq!(
        c.client.update_member(staff(stale.clone(), Role::CommitteeSecretary)).await.unwrap_err().code(),
        Code::Aborted
    );
    let ended = cm::UpdateMemberRequest { etag: current.etag, request_id: rid(), ..stale };
    let updated =
        c.client.update_member(staff(ended, Role::CommitteeSecretary)).await.unwrap().into_inner().member.unwrap();
    assert_eq!(updated.term_end.unwrap().year, 2025);
    let refused = c.vote("Olof", &case, cm::VoteChoice::Decline, "").await.unwrap_err();
    assert_eq!(reason(&refused), "MEMBER_NOT_IN_TERM");
    // Nor does he assess the requirements.
    let assess = cm::AssessRequirementRequest {
        name: case.clone(),
        request_id: rid(),
        assessment: Some(cm::RequirementAssessment {
            requirement: cm::BasicRequirement::LongTerm as i32,
            verdict: cm::RequirementVerdict::Met as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = c.client.assess_requirement(as_person("olof", &[Role::CommitteeMember], assess)).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "MEMBER_NOT_IN_TERM"));

    // Taken off the agenda, the case is open again and can go to another meeting.
    let remove = cm::RemoveAgendaItemRequest {
        name: meeting.clone(),
        request_id: rid(),
        case: case.clone(),
        ..Default::default()
    };
    let meeting_after = c
        .client
        .remove_agenda_item(staff(remove, Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .meeting
        .unwrap();
    assert!(meeting_after.agenda.is_empty());
    let reopened = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!((reopened.state, reopened.meeting.as_str()), (cm::CaseState::Open as i32, ""));
    c.stop().await;
}

#[tokio::test]
async fn the_secretary_moves_a_scheduled_meeting_keeps_notes_for_the_minutes_and_undecided_cases_go_back() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    let at = |seconds: i64| Some(prost_types::Timestamp { seconds, nanos: 0 });
    let create = cm::CreateMeetingRequest {
        request_id: rid(),
        meeting: Some(cm::Meeting { title: "Möte Q3".into(), start_time: at(1_790_000_000), ..Default::default() }),
    };
    let created =
        c.client.create_meeting(staff(create, Role::CommitteeSecretary)).await.unwrap().into_inner().meeting.unwrap();
    let name = created.name.clone();
    let add =
        cm::AddAgendaItemRequest { name: name.clone(), request_id: rid(), case: case.clone(), ..Default::default() };
    let scheduled =
        c.client.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap().into_inner().meeting.unwrap();
    assert_eq!((scheduled.quorum, scheduled.agenda[0].eligible_present_count), (2, 0), "nobody is present yet");

    // Bad masks are refused, each path named, and nothing changes.
    let bad = c.update_meeting(&name, "", cm::Meeting::default(), &["minutes", "quorum", "agenda"]).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let violations = bad.get_error_details().bad_request().unwrap().field_violations.clone();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].description.contains("notes"), "{:?}", violations[0]);
    let empty = c.update_meeting(&name, "", cm::Meeting::default(), &[]).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    let no_title = c.update_meeting(&name, "", cm::Meeting::default(), &["title"]).await.unwrap_err();
    assert_eq!(no_title.get_error_details().bad_request().unwrap().field_violations[0].field, "meeting.title");
    let stale = c.update_meeting(&name, "\"1\"", cm::Meeting::default(), &["location"]).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let early_notes = cm::Meeting { notes: "För tidigt".into(), ..Default::default() };
    let refused = c.update_meeting(&name, "", early_notes, &["notes"]).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::FailedPrecondition, "MINUTES_NOT_OPEN"));
    assert_eq!(c.get_meeting(&name).await.etag, scheduled.etag, "refusals change nothing");

    // Moved a week on: the meeting, and the case's announcement, follow.
    let moved = cm::Meeting {
        title: "Möte Q3 (flyttat)".into(),
        location: "Sal B".into(),
        start_time: at(1_790_604_800),
        ..Default::default()
    };
    let updated = c.update_meeting(&name, &scheduled.etag, moved, &["title", "location", "start_time"]).await.unwrap();
    assert_eq!((updated.title.as_str(), updated.location.as_str()), ("Möte Q3 (flyttat)", "Sal B"));
    assert_eq!(updated.start_time.unwrap().seconds, 1_790_604_800);
    assert_eq!(c.get_meeting(&name).await.start_time.unwrap().seconds, 1_790_604_800);
    let admin = sqlx::PgPool::connect(&c.db.admin_url()).await.unwrap();
    let announced: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT payload FROM committee.outbox WHERE event_type LIKE '%CaseScheduled' AND aggregate = $1 ORDER BY recorded",
    )
    .bind(&case)
    .fetch_all(&admin)
    .await
    .unwrap();
    let times: Vec<i64> = announced
        .iter()
        .map(|p| prost::Message::decode(p.as_slice()).map(|e: cm::CaseScheduled| e.meeting_start_time.unwrap().seconds))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(times, [1_790_000_000, 1_790_604_800], "scheduled, then moved");

    // Held: the details are fixed, notes are kept; attendance shows in the quorum.
    for member in [&carl, &lena] {
        let attend = cm::RecordAttendanceRequest {
            name: name.clone(),
            request_id: rid(),
            member: member.clone(),
            status: cm::AttendanceStatus::Present as i32,
            ..Default::default()
        };
        c.client.record_attendance(staff(attend, Role::CommitteeSecretary)).await.unwrap();
    }
    let start = cm::StartMeetingRequest { name: name.clone(), request_id: rid(), ..Default::default() };
    let started =
        c.client.start_meeting(staff(start, Role::CommitteeChair)).await.unwrap().into_inner().meeting.unwrap();
    assert_eq!((started.quorum, started.agenda[0].eligible_present_count, started.agenda[0].quorate), (2, 2, true));
    let late_move = cm::Meeting { location: "Sal C".into(), ..Default::default() };
    let refused = c.update_meeting(&name, "", late_move, &["location"]).await.unwrap_err();
    assert_eq!(reason(&refused), "MEETING_NOT_SCHEDULED");
    let notes = cm::Meeting { notes: "Eidar ombeds redovisa hyresnivåerna.".into(), ..Default::default() };
    let noted = c.update_meeting(&name, "", notes, &["*"]).await.unwrap();
    assert_eq!(noted.notes, "Eidar ombeds redovisa hyresnivåerna.");

    // Adjourned without a decision: the case is free for the next meeting,
    // and the minutes close with the notes, which may still be corrected.
    let adjourn = cm::AdjournMeetingRequest { name: name.clone(), request_id: rid(), ..Default::default() };
    let adjourned =
        c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap().into_inner().meeting.unwrap();
    assert!(
        adjourned.minutes.contains("## Sekreterarens anteckningar\n\nEidar ombeds redovisa hyresnivåerna.\n"),
        "{}",
        adjourned.minutes
    );
    let back = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!((back.state, back.meeting.as_str()), (cm::CaseState::Open as i32, ""));
    let corrected =
        cm::Meeting { notes: "Eidar ombeds redovisa hyresnivåerna före nästa möte.".into(), ..Default::default() };
    let rewritten = c.update_meeting(&name, &adjourned.etag, corrected, &["notes"]).await.unwrap();
    assert!(rewritten.minutes.contains("före nästa möte."), "{}", rewritten.minutes);
    assert!(rewritten.minutes.contains("# Protokoll: Möte Q3 (flyttat)"), "the record is kept: {}", rewritten.minutes);

    // Approved: frozen.
    let approved = c.justera(&name, &lena, "lena").await;
    assert!(approved.minutes.contains("före nästa möte."));
    let too_late = c
        .update_meeting(&name, "", cm::Meeting { notes: "x".into(), ..Default::default() }, &["notes"])
        .await
        .unwrap_err();
    assert_eq!(reason(&too_late), "MINUTES_NOT_OPEN");
    c.stop().await;
}

#[tokio::test]
async fn an_approval_follows_the_verdicts_on_the_five_basic_requirements() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    c.assess_all(&case).await;
    c.assess(&case, cm::BasicRequirement::LongTerm, cm::RequirementVerdict::PartiallyMet).await;
    c.meeting("Möte", &[&case], &[&carl, &lena]).await;
    let decide = |outcome: cm::DecisionOutcome| cm::Decision {
        outcome: outcome as i32,
        approved_amount: sek(75_000_000),
        conditions: if outcome == cm::DecisionOutcome::ApproveWithConditions {
            vec![cm::Condition {
                id: "c1".into(),
                kind: common::ConditionKind::ReportingCovenant as i32,
                description: "Visa hur verksamheten fortsätter efter projektet".into(),
                due_date: Some(common::Date { year: 2027, month: 6, day: 30 }),
            }]
        } else {
            vec![]
        },
        rationale: "Bedömning".into(),
        ..Default::default()
    };
    for who in ["Carl", "Lena"] {
        c.vote(who, &case, cm::VoteChoice::Approve, "").await.unwrap();
    }
    // Partly met: no plain approval, whatever the votes.
    let partly =
        c.record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::Approve)).await.unwrap_err();
    assert_eq!((partly.code(), reason(&partly).as_str()), (Code::FailedPrecondition, "REQUIREMENT_NOT_MET"));
    assert!(partly.message().contains("LONG_TERM is PARTIALLY_MET"), "{}", partly.message());
    // Not met: no approval at all.
    c.assess(&case, cm::BasicRequirement::LongTerm, cm::RequirementVerdict::NotMet).await;
    for who in ["Carl", "Lena"] {
        c.vote(who, &case, cm::VoteChoice::ApproveWithConditions, "").await.unwrap();
    }
    let unmet = c
        .record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::ApproveWithConditions))
        .await
        .unwrap_err();
    assert_eq!(reason(&unmet), "REQUIREMENT_NOT_MET");
    // Partly met, with conditions: approved.
    c.assess(&case, cm::BasicRequirement::LongTerm, cm::RequirementVerdict::PartiallyMet).await;
    let recorded = c
        .record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::ApproveWithConditions))
        .await
        .unwrap();
    assert_eq!(recorded.state, cm::DecisionState::Recorded as i32);
    // Adjourned before confirmation: the waiting record may still be corrected.
    let meeting = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .meeting;
    let adjourn = cm::AdjournMeetingRequest { name: meeting, request_id: rid(), ..Default::default() };
    c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap();
    let corrected = cm::Decision {
        rationale: "Bedömning, med villkor om långsiktighet".into(),
        ..decide(cm::DecisionOutcome::ApproveWithConditions)
    };
    let corrected = c.record("sara", &[Role::CommitteeSecretary], &case, corrected).await.unwrap();
    c.confirm("carl", &[Role::CommitteeChair], &corrected.name).await.unwrap();
    let stale = c.confirm("carl", &[Role::CommitteeChair], &recorded.name).await.unwrap_err();
    assert_eq!(reason(&stale), "DECISION_NOT_RECORDED");
    c.stop().await;
}

#[tokio::test]
async fn a_cancelled_meeting_frees_its_cases_and_the_chain_says_why() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    let create = cm::CreateMeetingRequest {
        request_id: rid(),
        meeting: Some(cm::Meeting {
            title: "Extramöte".into(),
            start_time: Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
            ..Default::default()
        }),
    };
    let meeting =
        c.client.create_meeting(staff(create, Role::CommitteeSecretary)).await.unwrap().into_inner().meeting.unwrap();
    let add = cm::AddAgendaItemRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        case: case.clone(),
        ..Default::default()
    };
    c.client.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap();

    let cancel = |reason: &str| cm::CancelMeetingRequest {
        name: meeting.name.clone(),
        request_id: rid(),
        reason: reason.into(),
        ..Default::default()
    };
    let silent = c.client.cancel_meeting(staff(cancel("  "), Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(silent.code(), Code::InvalidArgument);
    assert_eq!(silent.get_error_details().bad_request().unwrap().field_violations[0].field, "reason");
    let cancelled = c
        .client
        .cancel_meeting(staff(cancel("Kommittén är inte beslutför i december"), Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .meeting
        .unwrap();
    assert_eq!(cancelled.state, cm::MeetingState::Cancelled as i32);
    let freed = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Analyst))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!((freed.state, freed.meeting.as_str()), (cm::CaseState::Open as i32, ""));
    let chain = cm::ListAuditEntriesRequest { resource: meeting.name.clone(), ..Default::default() };
    let entries = c.client.list_audit_entries(staff(chain, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let said: Vec<(&str, &str)> = entries.iter().map(|e| (e.action.as_str(), e.summary.as_str())).collect();
    assert_eq!(said, [("MEETING_CANCELLED", "Kommittén är inte beslutför i december")]);

    // "*" on a member changes what the roster shows, never the login it is bound to.
    let current = c
        .client
        .get_member(staff(cm::GetMemberRequest { name: carl.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    let everything = cm::UpdateMemberRequest {
        request_id: rid(),
        member: Some(cm::Member { name: carl.clone(), display_name: "Carl Berg".into(), ..current.clone() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["*".into()] }),
        etag: current.etag.clone(),
    };
    let mut everything = everything;
    everything.member.as_mut().unwrap().subject = String::new();
    let updated =
        c.client.update_member(staff(everything, Role::CommitteeSecretary)).await.unwrap().into_inner().member.unwrap();
    assert_eq!((updated.display_name.as_str(), updated.subject.as_str()), ("Carl Berg", "carl"));
    c.stop().await;
}

#[tokio::test]
async fn votes_of_an_unknown_case_are_not_found_and_a_chain_range_is_checked() {
    let mut c = Committee::start().await;
    let missing = cm::ListVotesRequest { parent: format!("cases/{}", uuid::Uuid::now_v7()), ..Default::default() };
    assert_eq!(c.client.list_votes(staff(missing, Role::Auditor)).await.unwrap_err().code(), Code::NotFound);
    let backwards = cm::VerifyAuditChainRequest { from_sequence: 5, to_sequence: 2, ..Default::default() };
    let refused = c.client.verify_audit_chain(staff(backwards, Role::Auditor)).await.unwrap_err();
    assert_eq!(refused.get_error_details().bad_request().unwrap().field_violations[0].field, "to_sequence");
    let negative = cm::VerifyAuditChainRequest { from_sequence: -1, to_sequence: 0, ..Default::default() };
    assert_eq!(
        c.client.verify_audit_chain(staff(negative, Role::Auditor)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    c.stop().await;
}

#[tokio::test]
async fn a_meetings_day_is_the_day_in_stockholm() {
    let mut c = Committee::start().await;
    let member = cm::Member {
        display_name: "Nyår".into(),
        role: cm::MemberRole::Member as i32,
        term_start: Some(common::Date { year: 2027, month: 1, day: 1 }),
        subject: "nyar".into(),
        ..Default::default()
    };
    let request = cm::CreateMemberRequest { request_id: rid(), member: Some(member) };
    let nyar = c
        .client
        .create_member(staff(request, Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap()
        .name;
    let meeting_at = |seconds: i64| cm::CreateMeetingRequest {
        request_id: rid(),
        meeting: Some(cm::Meeting {
            title: "Nyårsmöte".into(),
            start_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        }),
    };
    let attend = |meeting: String| cm::RecordAttendanceRequest {
        name: meeting,
        request_id: rid(),
        member: nyar.clone(),
        status: cm::AttendanceStatus::Present as i32,
        ..Default::default()
    };
    // 2026-12-31T23:30Z is half past midnight on New Year's Day in Stockholm: the term has begun.
    let after_midnight = c
        .client
        .create_meeting(staff(meeting_at(1_798_759_800), Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .meeting
        .unwrap();
    c.client.record_attendance(staff(attend(after_midnight.name), Role::CommitteeSecretary)).await.unwrap();
    // An hour earlier it is still New Year's Eve there.
    let before_midnight = c
        .client
        .create_meeting(staff(meeting_at(1_798_756_200), Role::CommitteeSecretary))
        .await
        .unwrap()
        .into_inner()
        .meeting
        .unwrap();
    let early =
        c.client.record_attendance(staff(attend(before_midnight.name), Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(reason(&early), "MEMBER_NOT_IN_TERM");
    c.stop().await;
}

#[tokio::test]
async fn an_amendment_supersedes_the_decision_it_amends_and_nothing_earlier() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    c.assess_all(&case).await;
    let decide = |outcome: cm::DecisionOutcome, kronor: Option<i64>| cm::Decision {
        outcome: outcome as i32,
        approved_amount: kronor.and_then(sek),
        rationale: "Beslut".into(),
        ..Default::default()
    };

    // Deferred at the first meeting…
    let first = c.meeting("Möte 1", &[&case], &[&carl, &lena]).await;
    for who in ["Carl", "Lena"] {
        c.vote(who, &case, cm::VoteChoice::Defer, "").await.unwrap();
    }
    let deferral =
        c.record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::Defer, None)).await.unwrap();
    c.confirm("carl", &[Role::CommitteeChair], &deferral.name).await.unwrap();
    finish(&mut c, &first, &lena).await;
    // …approved at the second, its minutes approved…
    let second = c.meeting("Möte 2", &[&case], &[&carl, &lena]).await;
    for who in ["Carl", "Lena"] {
        c.vote(who, &case, cm::VoteChoice::Approve, "").await.unwrap();
    }
    let approval = c
        .record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::Approve, Some(75_000_000)))
        .await
        .unwrap();
    c.confirm("carl", &[Role::CommitteeChair], &approval.name).await.unwrap();
    finish(&mut c, &second, &lena).await;
    // …and amended: only the approval gives way.
    let amendment = c
        .record("sara", &[Role::CommitteeSecretary], &case, decide(cm::DecisionOutcome::Approve, Some(70_000_000)))
        .await
        .unwrap();
    c.confirm("carl", &[Role::CommitteeChair], &amendment.name).await.unwrap();
    let decisions = c
        .client
        .get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Auditor))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
        .decisions;
    let states: Vec<(i32, i32)> = decisions.iter().map(|d| (d.outcome, d.state)).collect();
    assert_eq!(
        states,
        [
            (cm::DecisionOutcome::Defer as i32, cm::DecisionState::Confirmed as i32),
            (cm::DecisionOutcome::Approve as i32, cm::DecisionState::Superseded as i32),
            (cm::DecisionOutcome::Approve as i32, cm::DecisionState::Confirmed as i32),
        ]
    );
    c.stop().await;
}

/// Adjourns `meeting`, and has its minutes approved with `adjuster`
/// (subject "lena") as adjuster.
async fn finish(c: &mut Committee, meeting: &str, adjuster: &str) {
    let adjourn = cm::AdjournMeetingRequest { name: meeting.into(), request_id: rid(), ..Default::default() };
    c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap();
    c.justera(meeting, adjuster, "lena").await;
}
