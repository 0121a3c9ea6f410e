//! Decisions by written procedure (per capsulam), tried from the edge: only
//! the chair puts one, only to the eligible members, each answers once, one
//! disagreement fails it, every agreement decides the case; the decision is
//! reported and frozen in the next minutes approved, and only there.

use e2e::{
    flow::{refer, rid, staff},
    meetings::{Committee, application_state, as_person, case_of, sek},
    pilots, reason,
};
use socialloans_contracts::{applications as ap, committee as cm};
use socialloans_platform::Role;
use tonic::Code;

async fn propose(
    c: &mut Committee,
    roles: &[Role],
    case: &str,
    decision: cm::Decision,
) -> Result<cm::Case, tonic::Status> {
    let request = cm::ProposeWrittenDecisionRequest {
        parent: case.into(),
        request_id: rid(),
        decision: Some(decision),
        ..Default::default()
    };
    c.client.propose_written_decision(as_person("carl", roles, request)).await.map(|r| r.into_inner().case.unwrap())
}

async fn answer(c: &mut Committee, who: &str, case: &str, agree: bool) -> Result<cm::Case, tonic::Status> {
    let request = cm::AnswerWrittenProcedureRequest {
        parent: case.into(),
        request_id: rid(),
        agree,
        comment: if agree { String::new() } else { "Bör behandlas vid ett möte".into() },
    };
    c.client
        .answer_written_procedure(as_person(who, &[Role::CommitteeMember], request))
        .await
        .map(|r| r.into_inner().case.unwrap())
}

fn approve(kronor: i64) -> cm::Decision {
    cm::Decision {
        outcome: cm::DecisionOutcome::Approve as i32,
        approved_amount: sek(kronor),
        rationale: "Brådskande; uppfyller grundkraven".into(),
        ..Default::default()
    }
}

fn refusal(result: Result<cm::Case, tonic::Status>) -> (Code, String) {
    let status = result.unwrap_err();
    (status.code(), reason(&status))
}

#[tokio::test]
async fn a_case_decided_in_writing_is_reported_and_frozen_in_the_next_minutes() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    let lena = c.member("Lena", cm::MemberRole::Member, None).await;
    let olof = c.member("Olof", cm::MemberRole::Member, None).await;
    let maja = c.member("Maja", cm::MemberRole::Member, None).await;
    c.member("Sara", cm::MemberRole::Secretary, None).await;
    let application = refer(&mut c.apps, pilots::botkyrkabyggen()).await;
    let case = case_of(&mut c.client, &application).await.name;
    c.declare_conflict(&case, &lena, "lena", "Sitter i Botkyrkabyggens styrelse").await;
    let precondition = |reason: &str| (Code::FailedPrecondition, reason.to_owned());

    // What cannot be put in writing.
    let unassessed = propose(&mut c, &[Role::CommitteeChair], &case, approve(400_000_000)).await;
    assert_eq!(refusal(unassessed), precondition("REQUIREMENTS_NOT_ASSESSED"));
    c.assess_all(&case).await;
    let defer = cm::Decision { outcome: cm::DecisionOutcome::Defer as i32, ..approve(1) };
    assert_eq!(
        refusal(propose(&mut c, &[Role::CommitteeChair], &case, defer).await),
        precondition("OUTCOME_NOT_WRITTEN")
    );
    let too_much = propose(&mut c, &[Role::CommitteeChair], &case, approve(900_000_000)).await;
    assert_eq!(refusal(too_much), precondition("APPROVED_AMOUNT_ABOVE_REQUESTED"));
    let member = propose(&mut c, &[Role::CommitteeMember, Role::CommitteeSecretary], &case, approve(1)).await;
    assert_eq!(refusal(member).0, Code::PermissionDenied);
    let blank =
        propose(&mut c, &[Role::CommitteeChair], &case, cm::Decision { rationale: String::new(), ..approve(1) });
    assert_eq!(refusal(blank.await).0, Code::InvalidArgument);

    // Put to Carl, Olof and Maja; Lena is conflicted.
    let put = propose(&mut c, &[Role::CommitteeChair], &case, approve(400_000_000)).await.unwrap();
    let procedure = put.written_procedure.unwrap();
    assert_eq!(procedure.state, cm::WrittenProcedureState::Open as i32);
    assert_eq!(procedure.eligible_members, [carl.clone(), olof.clone(), maja.clone()]);
    let again = propose(&mut c, &[Role::CommitteeChair], &case, approve(400_000_000)).await;
    assert_eq!(refusal(again), precondition("WRITTEN_PROCEDURE_OPEN"));
    let on_agenda = c.meeting("Möte", &[], &[&carl, &olof]).await;
    let add = cm::AddAgendaItemRequest {
        name: on_agenda.clone(),
        request_id: rid(),
        case: case.clone(),
        ..Default::default()
    };
    let added = c.client.add_agenda_item(staff(add, Role::CommitteeSecretary)).await.unwrap_err();
    assert_eq!(reason(&added), "WRITTEN_PROCEDURE_OPEN");

    // Each eligible member answers once; the others cannot.
    assert_eq!(refusal(answer(&mut c, "lena", &case, true).await), (Code::PermissionDenied, "NOT_ELIGIBLE".into()));
    assert_eq!(refusal(answer(&mut c, "stranger", &case, true).await), (Code::PermissionDenied, "NOT_A_MEMBER".into()));
    answer(&mut c, "carl", &case, true).await.unwrap();
    let waiting = answer(&mut c, "olof", &case, true).await.unwrap();
    assert_eq!(waiting.state, cm::CaseState::Open as i32, "Maja has not answered");
    assert_eq!(refusal(answer(&mut c, "olof", &case, true).await), precondition("ALREADY_ANSWERED"));
    let decided = answer(&mut c, "maja", &case, true).await.unwrap();
    assert_eq!(decided.state, cm::CaseState::Decided as i32);
    let decision = decided.decisions.last().unwrap().clone();
    assert_eq!((decision.state, decision.frozen), (cm::DecisionState::Confirmed as i32, false));
    assert_eq!(decided.written_procedure.unwrap().decision, decision.name);
    assert!(application_state(&mut c.apps, &application, ap::ApplicationState::Approved).await);
    assert_eq!(refusal(answer(&mut c, "carl", &case, true).await), precondition("NO_WRITTEN_PROCEDURE"));
    let extract = cm::GetCaseExtractRequest { case: case.clone(), ..Default::default() };
    let early = c.client.get_case_extract(staff(extract.clone(), Role::Analyst)).await.unwrap_err();
    assert_eq!(reason(&early), "NO_APPROVED_MINUTES");

    // The next meeting's minutes report it; their approval freezes it there.
    let adjourn = cm::AdjournMeetingRequest { name: on_agenda.clone(), request_id: rid(), ..Default::default() };
    let adjourned = c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap().into_inner();
    let minutes = adjourned.meeting.unwrap().minutes;
    assert!(minutes.contains("genom skriftligt förfarande (per capsulam)"), "{minutes}");
    assert!(minutes.contains("Beviljat belopp: 400 000 000 kr."), "{minutes}");
    c.justera(&on_agenda, &olof, "olof").await;
    let case_now = c.client.get_case(staff(cm::GetCaseRequest { name: case.clone() }, Role::Auditor)).await.unwrap();
    let frozen = case_now.into_inner().case.unwrap().decisions.last().unwrap().clone();
    assert_eq!((frozen.frozen, frozen.meeting.as_str()), (true, on_agenda.as_str()));
    let extract = c.client.get_case_extract(staff(extract, Role::Analyst)).await.unwrap().into_inner();
    assert_eq!((extract.meeting.as_str(), extract.section), (on_agenda.as_str(), 2));
    assert!(extract.document.unwrap().content.contains("per capsulam"));

    // A later meeting does not report it again.
    let later = c.meeting("Senare möte", &[], &[&carl, &olof]).await;
    let adjourn = cm::AdjournMeetingRequest { name: later, request_id: rid(), ..Default::default() };
    let minutes = c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap().into_inner();
    assert!(!minutes.meeting.unwrap().minutes.contains("per capsulam"));
    c.stop().await;
}

#[tokio::test]
async fn one_disagreement_sends_the_case_to_a_meeting() {
    let mut c = Committee::start().await;
    let carl = c.member("Carl", cm::MemberRole::Chair, None).await;
    c.member("Olof", cm::MemberRole::Member, None).await;
    c.member("Maja", cm::MemberRole::Member, None).await;
    let application = refer(&mut c.apps, pilots::eidar()).await;
    let case = case_of(&mut c.client, &application).await.name;
    c.assess_all(&case).await;
    propose(&mut c, &[Role::CommitteeChair], &case, approve(75_000_000)).await.unwrap();
    answer(&mut c, "carl", &case, true).await.unwrap();
    let failed = answer(&mut c, "olof", &case, false).await.unwrap();
    let procedure = failed.written_procedure.unwrap();
    assert_eq!((failed.state, procedure.state), (cm::CaseState::Open as i32, cm::WrittenProcedureState::Failed as i32));
    assert_eq!(procedure.answers[1].comment, "Bör behandlas vid ett möte");
    assert!(failed.decisions.is_empty());
    assert_eq!(reason(&answer(&mut c, "maja", &case, true).await.unwrap_err()), "NO_WRITTEN_PROCEDURE");
    // The case is free for a meeting's agenda.
    c.meeting("Möte", &[&case], &[&carl]).await;
    c.stop().await;
}
