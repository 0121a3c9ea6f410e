//! Minutes as a Swedish committee keeps them, tried from the edge: the
//! adjuster appointed at the meeting and the chair approve them (four eyes,
//! in either order, never one person twice), a change of the notes
//! withdraws an approval, the minutes render in Swedish and English, as
//! Markdown and safe HTML, and a borrower reads the extract of its own
//! case's § and of no one else's.

use e2e::{
    authorized,
    flow::{refer, rid, staff},
    meetings::{Committee, as_person, case_of, sek},
    pilots, reason, token,
};
use socialloans_contracts::{
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
    common,
};
use socialloans_platform::Role;
use tonic::{Code, transport::Channel};

/// The members, by name.
struct Roster {
    carl: String,
    lena: String,
    olof: String,
    maja: String,
}

/// A meeting that decided both pilots' cases and is adjourned: Carl, Olof
/// and Maja present, Lena excused; the secretary's notes hold `notes`.
/// The meeting, the two cases and their applications.
async fn decided(c: &mut Committee, notes: &str) -> (Roster, String, [String; 2], [String; 2]) {
    let roster = Roster {
        carl: c.member("Carl", cm::MemberRole::Chair, None).await,
        lena: c.member("Lena", cm::MemberRole::Member, None).await,
        olof: c.member("Olof", cm::MemberRole::Member, None).await,
        maja: c.member("Maja", cm::MemberRole::Member, None).await,
    };
    c.member("Sara", cm::MemberRole::Secretary, None).await;
    let applications = [refer(&mut c.apps, pilots::botkyrkabyggen()).await, refer(&mut c.apps, pilots::eidar()).await];
    let cases =
        [case_of(&mut c.client, &applications[0]).await.name, case_of(&mut c.client, &applications[1]).await.name];
    for case in &cases {
        c.assess_all(case).await;
    }
    let present = [&roster.carl, &roster.olof, &roster.maja].map(String::as_str);
    let meeting = c.meeting("Kommittémöte december", &[&cases[0], &cases[1]], &present).await;
    let excused = cm::RecordAttendanceRequest {
        name: meeting.clone(),
        request_id: rid(),
        member: roster.lena.clone(),
        status: cm::AttendanceStatus::Excused as i32,
        ..Default::default()
    };
    c.client.record_attendance(staff(excused, Role::CommitteeSecretary)).await.unwrap();
    for (case, kronor) in cases.iter().zip([400_000_000, 75_000_000]) {
        for who in ["Carl", "Olof", "Maja"] {
            c.vote(who, case, cm::VoteChoice::Approve, "").await.unwrap();
        }
        let approve = cm::Decision {
            outcome: cm::DecisionOutcome::Approve as i32,
            approved_amount: sek(kronor),
            rationale: "Uppfyller de fem grundkraven".into(),
            ..Default::default()
        };
        let recorded = c.record("sara", &[Role::CommitteeSecretary], case, approve).await.unwrap();
        c.confirm("carl", &[Role::CommitteeChair], &recorded.name).await.unwrap();
    }
    c.update_meeting(&meeting, "", cm::Meeting { notes: notes.into(), ..Default::default() }, &["notes"])
        .await
        .unwrap();
    let adjourn = cm::AdjournMeetingRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
    c.client.adjourn_meeting(staff(adjourn, Role::CommitteeChair)).await.unwrap();
    (roster, meeting, cases, applications)
}

fn refused(result: Result<cm::Meeting, tonic::Status>) -> (Code, String) {
    let status = result.unwrap_err();
    (status.code(), reason(&status))
}

#[tokio::test]
async fn the_minutes_are_justerade_only_by_the_chair_and_the_adjuster_as_two_people() {
    let mut c = Committee::start().await;
    let (roster, meeting, cases, _) = decided(&mut c, "Inga övriga frågor.").await;
    let precondition = |reason: &str| (Code::FailedPrecondition, reason.to_owned());

    // Nobody approves before an adjuster is appointed; the chair, an absent
    // member or a stranger cannot be appointed.
    let early = c.approve("chair", &[Role::CommitteeChair], &meeting).await;
    assert_eq!(refused(early), precondition("ADJUSTER_NOT_APPOINTED"));
    for (who, why) in [(&roster.carl, "the chair"), (&roster.lena, "excused")] {
        let appointed = c.appoint_adjuster(&meeting, who).await;
        assert_eq!(refused(appointed), precondition("ADJUSTER_NOT_ELIGIBLE"), "{why}");
    }
    let stranger = format!("members/{}", uuid::Uuid::now_v7());
    assert_eq!(refused(c.appoint_adjuster(&meeting, &stranger).await).0, Code::NotFound);
    let malformed = c.appoint_adjuster(&meeting, "members/../../etc").await;
    assert_eq!(refused(malformed).0, Code::InvalidArgument);
    let appointed = c.appoint_adjuster(&meeting, &roster.olof).await.unwrap();
    assert_eq!(appointed.adjuster, roster.olof);
    assert!(
        appointed
            .minutes
            .contains("## § 1 Val av justerare\n\nAtt jämte ordföranden justera dagens protokoll utses Olof.\n")
    );

    // The adjuster first: the meeting waits for the chair.
    let not_adjuster = c.approve("maja", &[Role::CommitteeMember], &meeting).await;
    assert_eq!(refused(not_adjuster), (Code::PermissionDenied, "NOT_THE_ADJUSTER".to_owned()));
    let half = c.approve("olof", &[Role::CommitteeMember], &meeting).await.unwrap();
    assert_eq!(half.state, cm::MeetingState::Adjourned as i32);
    assert_eq!(half.minutes_adjusted_by.as_ref().map(|a| a.subject.as_str()), Some("olof"));
    assert!(half.minutes_adjust_time.is_some() && half.minutes_approved_by.is_none());
    let twice = c.approve("olof", &[Role::CommitteeMember, Role::CommitteeChair], &meeting).await;
    assert_eq!(refused(twice), precondition("ALREADY_APPROVED"), "the adjuster's subject never signs as chair");
    let as_chair = c.approve("olof", &[Role::CommitteeChair], &meeting).await;
    assert_eq!(refused(as_chair), (Code::PermissionDenied, "NOT_THE_ADJUSTER".to_owned()));
    let too_late = c.appoint_adjuster(&meeting, &roster.maja).await;
    assert_eq!(refused(too_late), precondition("MINUTES_BEING_APPROVED"));

    // A correction of the notes withdraws the approval: both approve one text.
    let corrected = cm::Meeting { notes: "Rättad anteckning.".into(), ..Default::default() };
    let rewritten = c.update_meeting(&meeting, "", corrected, &["notes"]).await.unwrap();
    assert!(rewritten.minutes_adjusted_by.is_none() && rewritten.minutes.contains("Rättad anteckning."));

    // Both approve, the chair first this time, and a retry replays the answer.
    let request = cm::ApproveMinutesRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
    let chair = || as_person("chair", &[Role::CommitteeChair], request.clone());
    let first = c.client.approve_minutes(chair()).await.unwrap().into_inner().meeting.unwrap();
    let replayed = c.client.approve_minutes(chair()).await.unwrap().into_inner().meeting.unwrap();
    assert_eq!((first.state, replayed.etag), (cm::MeetingState::Adjourned as i32, first.etag.clone()));
    let approved = c.approve("olof", &[Role::CommitteeMember], &meeting).await.unwrap();
    assert_eq!(approved.state, cm::MeetingState::MinutesApproved as i32);
    assert_eq!(approved.minutes_approved_by.as_ref().map(|a| a.subject.as_str()), Some("chair"));
    assert!(approved.minutes.contains("Protokollet justerades ") && approved.minutes.contains("och Olof, justerare."));
    let after = c.approve("maja", &[Role::CommitteeMember], &meeting).await;
    assert_eq!(refused(after), precondition("MEETING_NOT_ADJOURNED"));

    // The decisions froze, and the chain holds the approved text.
    let case = c.client.get_case(staff(cm::GetCaseRequest { name: cases[0].clone() }, Role::Auditor)).await.unwrap();
    assert!(case.into_inner().case.unwrap().decisions.iter().all(|d| d.frozen));
    let verify = cm::VerifyAuditChainRequest::default();
    let verified = c.client.verify_audit_chain(staff(verify, Role::Auditor)).await.unwrap().into_inner();
    assert!(verified.valid, "{verified:?}");
    let entries = cm::ListAuditEntriesRequest { resource: meeting.clone(), ..Default::default() };
    let entries = c.client.list_audit_entries(staff(entries, Role::Auditor)).await.unwrap().into_inner();
    let approval = entries.audit_entries.iter().find(|e| e.action == "MINUTES_APPROVED").expect("chained");
    assert!(approval.summary.contains("chair") && approval.summary.contains("olof"), "{}", approval.summary);
    c.stop().await;
}

/// The rendered minutes of `meeting`, or the refusal.
async fn render(
    client: &mut CommitteeServiceClient<Channel>,
    meeting: &str,
    language: common::Language,
    format: i32,
) -> Result<cm::RenderMinutesResponse, tonic::Status> {
    let request = cm::RenderMinutesRequest { name: meeting.into(), language: language as i32, format };
    client.render_minutes(staff(request, Role::Analyst)).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn minutes_render_in_swedish_and_english_as_markdown_and_html_that_runs_nothing() {
    let mut c = Committee::start().await;
    let notes = "Frågan om <script>alert('x')</script> och [länk](javascript:alert(1)) bordläggs.";
    let (roster, meeting, _, _) = decided(&mut c, notes).await;
    let (markdown, html) = (common::DocumentFormat::Markdown as i32, common::DocumentFormat::Html as i32);
    let sv = render(&mut c.client, &meeting, common::Language::Unspecified, 0).await.unwrap();
    let stored = c.get_meeting(&meeting).await;
    assert_eq!(sv.document.as_ref().unwrap().content, stored.minutes, "Swedish Markdown is the record itself");
    assert!(!sv.approved);
    let sv = sv.document.unwrap();
    assert_eq!((sv.language, sv.format), (common::Language::Swedish as i32, markdown));
    for line in ["# Protokoll: Kommittémöte december\n", "- Lena, ledamot (anmält förhinder)\n", "## § 3 "] {
        assert!(sv.content.contains(line), "{line:?} in\n{}", sv.content);
    }
    let en = render(&mut c.client, &meeting, common::Language::English, markdown).await.unwrap().document.unwrap();
    for line in
        ["# Minutes: Kommittémöte december\n", "- Lena, member (excused)\n", "Amount approved: SEK 400,000,000."]
    {
        assert!(en.content.contains(line), "{line:?} in\n{}", en.content);
    }
    let page = render(&mut c.client, &meeting, common::Language::Swedish, html).await.unwrap().document.unwrap();
    assert_eq!(page.media_type, "text/html; charset=utf-8");
    assert!(page.content.contains("<html lang=\"sv\">") && page.content.contains("<h2>§ 1 Val av justerare</h2>"));
    assert!(
        page.content.contains("&lt;script&gt;") && !page.content.contains("<script") && !page.content.contains("href")
    );

    // Bad values are named; minutes not yet written are refused.
    let bad = render(&mut c.client, &meeting, common::Language::Swedish, 7).await.unwrap_err();
    assert_eq!((bad.code(), e2e::violations(&bad)), (Code::InvalidArgument, vec!["format".to_owned()]));
    let bad = cm::RenderMinutesRequest { name: meeting.clone(), language: -3, format: 0 };
    let bad = c.client.render_minutes(staff(bad, Role::Analyst)).await.unwrap_err();
    assert_eq!(e2e::violations(&bad), ["language"]);
    let scheduled = c.meeting("Nästa möte", &[], &[&roster.carl]).await;
    let early = render(&mut c.client, &scheduled, common::Language::Swedish, 0).await.unwrap_err();
    assert_eq!((early.code(), reason(&early).as_str()), (Code::FailedPrecondition, "MINUTES_NOT_WRITTEN"));
    let borrower = authorized(
        cm::RenderMinutesRequest { name: meeting.clone(), ..Default::default() },
        &token(&[Role::Borrower], Some(pilots::BOTKYRKABYGGEN)),
    );
    assert_eq!(c.client.render_minutes(borrower).await.unwrap_err().code(), Code::PermissionDenied);
    c.stop().await;
}

/// The extract `request` asks for, as the borrower `org` (and as staff when `org` is None).
async fn extract(
    client: &mut CommitteeServiceClient<Channel>,
    org: Option<&str>,
    request: cm::GetCaseExtractRequest,
) -> Result<cm::GetCaseExtractResponse, tonic::Status> {
    let request = match org {
        Some(org) => authorized(request, &token(&[Role::Borrower], Some(org))),
        None => staff(request, Role::Analyst),
    };
    client.get_case_extract(request).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn a_borrower_reads_the_extract_of_its_own_case_once_justerat_and_nothing_else() {
    let mut c = Committee::start().await;
    let (roster, meeting, cases, applications) = decided(&mut c, "").await;
    let by_application =
        |application: &str| cm::GetCaseExtractRequest { application: application.into(), ..Default::default() };

    // Not before the minutes are justerade.
    let early = extract(&mut c.client, Some(pilots::BOTKYRKABYGGEN), by_application(&applications[0])).await;
    assert_eq!(reason(&early.unwrap_err()), "NO_APPROVED_MINUTES");
    c.justera(&meeting, &roster.olof, "olof").await;

    let own = extract(&mut c.client, Some(pilots::BOTKYRKABYGGEN), by_application(&applications[0])).await.unwrap();
    assert_eq!((own.case.as_str(), own.meeting.as_str(), own.section), (cases[0].as_str(), meeting.as_str(), 2));
    let text = own.document.unwrap().content;
    for line in [
        "# Protokollsutdrag\n",
        "## § 2 ",
        "**Beslut:** Beviljas. Beviljat belopp: 400 000 000 kr.\n",
        "Motivering: Uppfyller de fem grundkraven\n",
        "av Carl, ordförande, och Olof, justerare.\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("Omröstning") && !text.contains("Eidar"), "only this §, without the votes:\n{text}");
    let by_case = cm::GetCaseExtractRequest {
        case: cases[1].clone(),
        language: common::Language::English as i32,
        format: common::DocumentFormat::Html as i32,
        ..Default::default()
    };
    let eidar = extract(&mut c.client, Some(pilots::EIDAR), by_case.clone()).await.unwrap();
    assert_eq!(eidar.section, 3);
    let page = eidar.document.unwrap().content;
    assert!(page.contains("<h1>Extract from the minutes</h1>") && page.contains("SEK 75,000,000"), "{page}");

    // Another organisation's case does not exist for a borrower; staff read any.
    for request in [by_case.clone(), by_application(&applications[1])] {
        let other = extract(&mut c.client, Some(pilots::BOTKYRKABYGGEN), request).await.unwrap_err();
        assert_eq!(other.code(), Code::NotFound);
    }
    let mixed =
        authorized(by_case.clone(), &token(&[Role::Borrower, Role::CreditAnalyst], Some(pilots::BOTKYRKABYGGEN)));
    assert_eq!(
        c.client.get_case_extract(mixed).await.unwrap_err().code(),
        Code::NotFound,
        "a mixed token is a borrower here"
    );
    assert!(extract(&mut c.client, None, by_case).await.is_ok());
    let none = extract(&mut c.client, None, cm::GetCaseExtractRequest::default()).await.unwrap_err();
    assert_eq!((none.code(), e2e::violations(&none)), (Code::InvalidArgument, vec!["case".to_owned()]));
    let unknown = by_application(&format!("applications/{}", uuid::Uuid::now_v7()));
    assert_eq!(extract(&mut c.client, None, unknown).await.unwrap_err().code(), Code::NotFound);
    c.stop().await;
}
