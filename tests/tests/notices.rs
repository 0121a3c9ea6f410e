//! The notices service, tried from the edge: events on the feeds become
//! notices in each recipient's language, sent once through a real SMTP
//! relay (retried when it refuses, never twice when the service restarts),
//! an escalation waits and is cancelled when the report comes in, an
//! organisation without recipients is logged as such, and each borrower
//! reads its own communication log and manages its own recipients only.

use std::time::Duration;

use e2e::{
    Db, channel,
    flow::{as_borrower, rid, staff},
    pilots, reason, services, specs, violations,
};
use socialloans_contracts::{
    committee as cm,
    common::{self, Date},
    monitoring as mo,
    notices::{self as no, notices_service_client::NoticesServiceClient},
};
use socialloans_platform::Role;
use tonic::{Code, transport::Channel};

/// Appends `event` to `service`'s feed, as that service would publish it.
async fn publish<M: prost::Message + prost::Name>(db: &Db, service: &str, aggregate: &str, org: &str, event: &M) {
    let pool = sqlx::PgPool::connect(&db.service_url(service)).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    socialloans_platform::events::append(&mut tx, service, aggregate, Some(org), event).await.unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
}

async fn set_recipient(
    client: &mut NoticesServiceClient<Channel>,
    org: &str,
    as_org: &str,
    email: &str,
    language: common::Language,
) -> Result<no::Recipient, tonic::Status> {
    let recipient = no::Recipient {
        organization_number: org.into(),
        display_name: "Karin Holm".into(),
        email: email.into(),
        language: language as i32,
        ..Default::default()
    };
    let request = no::SetRecipientRequest { request_id: rid(), recipient: Some(recipient) };
    client.set_recipient(as_borrower(as_org, request)).await.map(|r| r.into_inner().recipient.unwrap())
}

/// The communication log as `request` asks, for `as_org` (a borrower) or staff.
async fn log(
    client: &mut NoticesServiceClient<Channel>,
    as_org: Option<&str>,
    request: no::ListCommunicationsRequest,
) -> Vec<no::Communication> {
    let request = match as_org {
        Some(org) => as_borrower(org, request),
        None => staff(request, Role::Analyst),
    };
    client.list_communications(request).await.unwrap().into_inner().communications
}

/// Waits until the log holds `n` entries none of which is PENDING and due.
async fn settled(client: &mut NoticesServiceClient<Channel>, n: usize) -> Vec<no::Communication> {
    for _ in 0..300 {
        let all = log(client, None, no::ListCommunicationsRequest::default()).await;
        let waiting = all.iter().any(|c| {
            c.state == no::DeliveryState::Pending as i32
                && c.attempts == 0
                && c.kind != no::NoticeKind::ReportOverdueEscalated as i32
        });
        let retrying = all.iter().any(|c| c.state == no::DeliveryState::Pending as i32 && c.attempts > 0);
        if all.len() >= n && !waiting && !retrying {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the log did not settle at {n} notices");
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

#[tokio::test]
async fn feed_events_become_notices_sent_once_in_each_recipients_language_and_logged() {
    let db = Db::prepared(&specs()).await;
    let mail = std::env::temp_dir().join(format!("socialloans-mail-{}", uuid::Uuid::now_v7()));
    // The relay refuses the first message: it is retried, and sent.
    let sink = notices::sink::Sink::start("127.0.0.1:0".parse().unwrap(), &mail, 1).await.unwrap();
    let monitoring = db.serve(services()[2], &[("OUTBOX_POLL_MS", "100"), ("FEED_HEARTBEAT_MS", "300")]).await;
    let committee = db.serve(services()[1], &[("OUTBOX_POLL_MS", "100"), ("FEED_HEARTBEAT_MS", "300")]).await;
    let feeds = [
        ("MONITORING_FEED_URL", format!("http://{}", monitoring.grpc_addr)),
        ("COMMITTEE_FEED_URL", format!("http://{}", committee.grpc_addr)),
    ];
    let env = |feeds: &[(&'static str, String); 2]| -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("SMTP_URL", sink.url()),
            ("NOTICE_SEND_MS", "100".to_owned()),
            ("NOTICE_ESCALATION_DAYS", "1".to_owned()),
            ("NOTICE_ANALYST_EMAIL", "analytiker@kommuninvest.test".to_owned()),
        ];
        env.extend(feeds.iter().cloned());
        env
    };
    let pairs = env(&feeds);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let service = db.serve(services()[3], &borrowed).await;
    let mut client = NoticesServiceClient::new(channel(service.grpc_addr).await);

    // Recipients: Botkyrkabyggen has one in Swedish and one in English; Eidar none.
    let (botkyrka, eidar) = (pilots::BOTKYRKABYGGEN, pilots::EIDAR);
    set_recipient(&mut client, "", botkyrka, "karin@botkyrkabyggen.test", common::Language::Unspecified).await.unwrap();
    set_recipient(&mut client, botkyrka, botkyrka, "finance@botkyrkabyggen.test", common::Language::English)
        .await
        .unwrap();
    let other = set_recipient(&mut client, eidar, botkyrka, "x@eidar.test", common::Language::Swedish).await;
    assert_eq!(other.unwrap_err().code(), Code::NotFound, "another organisation does not exist for a borrower");
    let bad = set_recipient(&mut client, "", botkyrka, "not an address", common::Language::Swedish).await.unwrap_err();
    assert_eq!((bad.code(), violations(&bad)), (Code::InvalidArgument, vec!["recipient.email".to_owned()]));
    let bad_language = set_recipient(&mut client, "", botkyrka, "a@b.test", common::Language::Unspecified).await;
    assert!(bad_language.is_ok());
    let listed = client
        .list_recipients(as_borrower(botkyrka, no::ListRecipientsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .recipients;
    assert_eq!(listed.len(), 3);
    let request = no::DeleteRecipientRequest { request_id: rid(), name: listed[2].name.clone() };
    let foreign = client.delete_recipient(as_borrower(eidar, request.clone())).await.unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    client.delete_recipient(as_borrower(botkyrka, request)).await.unwrap();

    // The events.
    let plan = "monitoringPlans/0190a000-0000-7000-8000-000000000001";
    let due_soon = mo::ReportDueSoon {
        monitoring_plan: plan.into(),
        application: "applications/a".into(),
        organization_number: botkyrka.into(),
        period_end: date(2026, 12, 31),
        due_date: date(2027, 3, 31),
        days_before: 30,
        ..Default::default()
    };
    publish(&db, "monitoring", plan, botkyrka, &due_soon).await;
    let overdue = mo::ReportOverdue {
        monitoring_plan: plan.into(),
        application: "applications/a".into(),
        organization_number: botkyrka.into(),
        period_end: date(2026, 12, 31),
        due_date: date(2027, 3, 31),
    };
    publish(&db, "monitoring", plan, botkyrka, &overdue).await;
    let scheduled = cm::CaseScheduled {
        case: "cases/e".into(),
        application: "applications/e".into(),
        meeting: "meetings/m".into(),
        meeting_start_time: Some(prost_types::Timestamp { seconds: 1_782_835_200, nanos: 0 }),
        organization_number: eidar.into(),
    };
    publish(&db, "committee", "cases/e", eidar, &scheduled).await;
    let extract = cm::CaseExtractIssued {
        case: "cases/b".into(),
        application: "applications/a".into(),
        organization_number: botkyrka.into(),
        outcome: cm::DecisionOutcome::Approve as i32,
        extract_swedish: "# Protokollsutdrag\n\n**Beslut:** Beviljas.".into(),
        extract_english: "# Extract from the minutes\n\n**Decision:** Approved.".into(),
        ..Default::default()
    };
    publish(&db, "committee", "cases/b", botkyrka, &extract).await;

    // Two recipients × (due soon, overdue, decision), one analysts' escalation
    // waiting a day, one entry for Eidar's recipient that is not there.
    let all = settled(&mut client, 8).await;
    assert_eq!(all.len(), 8, "{all:#?}");
    let of_kind = |kind: no::NoticeKind| all.iter().filter(move |c| c.kind == kind as i32);
    let due: Vec<&no::Communication> = of_kind(no::NoticeKind::ReportDueSoon).collect();
    let sv = due.iter().find(|c| c.recipient_email == "karin@botkyrkabyggen.test").unwrap();
    let en = due.iter().find(|c| c.recipient_email == "finance@botkyrkabyggen.test").unwrap();
    assert_eq!(sv.subject, "Påminnelse: uppföljningsrapport senast 2027-03-31");
    assert_eq!(en.subject, "Reminder: outcome report due by 2027-03-31");
    assert!(sv.body.contains("om 30 dagar") && en.body.contains("in 30 days"));
    let decision = of_kind(no::NoticeKind::Decision).find(|c| c.language == common::Language::English as i32).unwrap();
    assert!(decision.body.contains("# Extract from the minutes"), "{}", decision.body);
    let nobody = of_kind(no::NoticeKind::CaseScheduled).next().unwrap();
    assert_eq!((nobody.state, nobody.recipient_email.as_str()), (no::DeliveryState::NoRecipient as i32, ""));
    assert!(nobody.body.contains("2026-06-30 kl. 18.00"), "{}", nobody.body);
    let escalation = of_kind(no::NoticeKind::ReportOverdueEscalated).next().unwrap();
    assert_eq!(escalation.state, no::DeliveryState::Pending as i32, "it waits a day");
    assert_eq!(escalation.recipient_email, "analytiker@kommuninvest.test");
    let sent: Vec<&no::Communication> = all.iter().filter(|c| c.state == no::DeliveryState::Sent as i32).collect();
    assert_eq!(sent.len(), 6);
    assert_eq!(sent.iter().map(|c| c.attempts).sum::<i32>(), 7, "the refused one went on its second attempt");
    let messages = sink.messages();
    assert_eq!(messages.len(), 6);
    for c in &sent {
        let message = messages.iter().find(|m| m.contains(&format!("Message-ID: {}", c.message_id))).unwrap();
        assert!(message.contains(&format!("Delivered-To: <{}>", c.recipient_email)), "{message}");
    }

    // The feed says what became of each notice, naming nobody.
    let feed = socialloans_contracts::events::StreamEventsRequest::default();
    let mut stream = client.stream_events(staff(feed, Role::Service)).await.unwrap().into_inner();
    let mut told = Vec::new();
    while told.len() < 7 {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
        if let Some(event) = next.event {
            told.push(event.r#type);
        }
    }
    drop(stream);
    assert_eq!(told.iter().filter(|t| t.ends_with(".NoticeSent")).count(), 6, "{told:?}");
    assert_eq!(told.iter().filter(|t| t.ends_with(".NoticeUndelivered")).count(), 1, "{told:?}");

    // The report comes in: the escalation is cancelled, not sent.
    let submitted = mo::OutcomeReportSubmitted {
        outcome_report: format!("{plan}/outcomeReports/0190a000-0000-7000-8000-000000000002"),
        organization_number: botkyrka.into(),
        period_end: date(2026, 12, 31),
        ..Default::default()
    };
    publish(&db, "monitoring", plan, botkyrka, &submitted).await;
    let mut cancelled = false;
    for _ in 0..100 {
        let now = log(&mut client, None, no::ListCommunicationsRequest::default()).await;
        cancelled = now.iter().any(|c| c.state == no::DeliveryState::Cancelled as i32);
        if cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cancelled, "the escalation was cancelled");

    // A restart replays nothing: no notice is written or sent twice.
    service.stop().await.unwrap();
    let again = db.serve(services()[3], &borrowed).await;
    let mut client = NoticesServiceClient::new(channel(again.grpc_addr).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(log(&mut client, None, no::ListCommunicationsRequest::default()).await.len(), 8);
    assert_eq!(sink.messages().len(), 6);

    // Each borrower reads its own log; staff filter by plan.
    let own = log(&mut client, Some(botkyrka), no::ListCommunicationsRequest::default()).await;
    assert!(own.len() == 7 && own.iter().all(|c| c.organization_number == botkyrka), "{own:#?}");
    let eidar_log = log(&mut client, Some(eidar), no::ListCommunicationsRequest::default()).await;
    assert_eq!(eidar_log.len(), 1);
    let asked = no::ListCommunicationsRequest { organization_number: botkyrka.into(), ..Default::default() };
    let refused = client.list_communications(as_borrower(eidar, asked)).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    let by_plan = no::ListCommunicationsRequest { monitoring_plan: plan.into(), page_size: 2, ..Default::default() };
    let page = client.list_communications(staff(by_plan, Role::Auditor)).await.unwrap().into_inner();
    assert_eq!(page.communications.len(), 2);
    assert!(!page.next_page_token.is_empty());
    let committee_member = no::ListCommunicationsRequest::default();
    let denied = client.list_communications(staff(committee_member, Role::CommitteeMember)).await.unwrap_err();
    assert_eq!((denied.code(), reason(&denied).as_str()), (Code::PermissionDenied, "ROLE_NOT_ALLOWED"));
    again.stop().await.unwrap();
    monitoring.stop().await.unwrap();
    committee.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(mail);
}

#[tokio::test]
async fn two_replicas_send_each_notice_once() {
    let db = Db::prepared(&specs()).await;
    let mail = std::env::temp_dir().join(format!("socialloans-mail-{}", uuid::Uuid::now_v7()));
    let sink = notices::sink::Sink::start("127.0.0.1:0".parse().unwrap(), &mail, 0).await.unwrap();
    let monitoring = db.serve(services()[2], &[("OUTBOX_POLL_MS", "50"), ("FEED_HEARTBEAT_MS", "300")]).await;
    let feed = format!("http://{}", monitoring.grpc_addr);
    let url = sink.url();
    let env = [("MONITORING_FEED_URL", feed.as_str()), ("SMTP_URL", url.as_str()), ("NOTICE_SEND_MS", "20")];
    let replicas = [db.serve(services()[3], &env).await, db.serve(services()[3], &env).await];
    let mut client = NoticesServiceClient::new(channel(replicas[0].grpc_addr).await);
    let org = pilots::BOTKYRKABYGGEN;
    for n in 0..3 {
        let email = format!("person{n}@botkyrkabyggen.test");
        set_recipient(&mut client, "", org, &email, common::Language::Swedish).await.unwrap();
    }
    // 12 reminders × 3 recipients: 36 notices, sent by whichever replica takes each.
    for month in 1..=12 {
        let plan = format!("monitoringPlans/0190a000-0000-7000-8000-0000000000{month:02}");
        let due_soon = mo::ReportDueSoon {
            monitoring_plan: plan.clone(),
            organization_number: org.into(),
            period_end: date(2026, month, 28),
            due_date: date(2027, month, 28),
            days_before: 7,
            ..Default::default()
        };
        publish(&db, "monitoring", &plan, org, &due_soon).await;
    }
    let all = settled(&mut client, 36).await;
    assert_eq!(all.len(), 36);
    assert!(all.iter().all(|c| c.state == no::DeliveryState::Sent as i32 && c.attempts == 1), "{all:#?}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 36, "no notice was sent twice");
    let mut ids: Vec<&str> = messages.iter().filter_map(|m| m.lines().find(|l| l.starts_with("Message-ID:"))).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 36, "each Message-ID once");
    for replica in replicas {
        replica.stop().await.unwrap();
    }
    monitoring.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(mail);
}
