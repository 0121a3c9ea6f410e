//! One thread per application (issue 18, item 12): the three services run
//! in this process and export their spans over OTLP to a receiver here; the
//! pilot story runs through them; then each pilot's draft is found, and
//! every later step of its life — submission, review, referral, the
//! committee's case and decision, the approval applied, the plan, the loan,
//! the reports up to the first accepted one — is a span linked to it.

use std::collections::BTreeSet;

use e2e::{Db, specs, start_all};
use testkit::otlp::{Collector, Exported, hex};

/// What a span did: the method a call served (after the last '/'), or the
/// event type a consumer applied (after the last '.').
fn step(exported: &Exported) -> String {
    match exported.span.name.as_str() {
        "grpc.call" => exported.attribute("rpc.method").rsplit('/').next().unwrap_or_default().to_owned(),
        "event.apply" => {
            let kind = exported.attribute("event.type");
            format!("event {}", kind.rsplit('.').next().unwrap_or_default())
        }
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pilots_life_from_draft_to_its_first_accepted_report_is_one_thread_of_linked_spans() {
    let (collector, endpoint) = Collector::start().await;
    let telemetry = socialloans_platform::telemetry::init("socialloans", false, Some(&endpoint)).expect("telemetry");
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = start_all(&db).await;
    let out = std::env::temp_dir().join(format!("socialloans-thread-{}", uuid::Uuid::now_v7()));
    let story = socialloans::demo::run(&endpoints, testkit::SECRET, &out, &mut |_| {}).await;
    let _ = std::fs::remove_dir_all(&out);
    story.expect("the pilot story runs to the end");
    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
    // Flushes the batch exporter.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.unwrap();

    let spans = collector.spans();
    let drafts: Vec<&Exported> = spans.iter().filter(|s| step(s) == "CreateApplication").collect();
    assert_eq!(drafts.len(), 2, "one draft per pilot among {} spans", spans.len());
    let wanted = [
        "SubmitApplication",
        "StartReview",
        "RecordCreditAssessment",
        "ReferApplicationToCommittee",
        "event ApplicationReferredToCommittee",
        "AssessRequirement",
        "CastVote",
        "RecordDecision",
        "ConfirmDecision",
        "event DecisionConfirmed",
        "event ApplicationApproved",
        "TagLoan",
        "event LoanTagged",
        "CreateOutcomeReport",
        "SubmitOutcomeReport",
        "AcceptOutcomeReport",
    ];
    let mut threads = Vec::new();
    for draft in drafts {
        let origin = hex(&draft.span.trace_id);
        let linked: BTreeSet<String> = spans
            .iter()
            .filter(|s| s.span.links.iter().any(|l| hex(&l.trace_id) == origin && l.span_id == draft.span.span_id))
            .map(step)
            .collect();
        let missing: Vec<&str> = wanted.iter().copied().filter(|w| !linked.contains(*w)).collect();
        assert!(missing.is_empty(), "the thread from {origin} lacks {missing:?}; it has {linked:?}");
        threads.push(origin);
    }
    // Two pilots, two threads: only the meeting's own steps, which act on
    // both cases at once, are in both.
    let both: BTreeSet<String> = spans
        .iter()
        .filter(|s| threads.iter().all(|t| s.span.links.iter().any(|l| hex(&l.trace_id) == *t)))
        .map(step)
        .collect();
    let meeting = ["StartMeeting", "AdjournMeeting", "CancelMeeting", "ApproveMinutes"].map(String::from).into();
    assert!(both.is_subset(&meeting), "steps of one application in both threads: {both:?}");
}
