//! What a careless integrator or an attacker sends, and what they get: no
//! resource outgrows what the service can send, pages end at a byte budget,
//! unknown paths never become metrics, streams are bounded and end with their
//! token, bad times and texts are refused by name, and no error is too large
//! for a client to read.

use socialloans_contracts::common;
use std::time::Duration;

use e2e::{Db, authorized, channel, flow::rid, http_get, minter, pilots, reason, services, specs, token};
use prost::Message;
use prost_types::FieldMask;
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
};
use socialloans_platform::{Role, limits};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

type Apps = ApplicationsServiceClient<Channel>;

fn borrower<T>(message: T, org: &str) -> tonic::Request<T> {
    authorized(message, &token(&[Role::Borrower], Some(org)))
}

fn analyst<T>(message: T) -> tonic::Request<T> {
    authorized(message, &token(&[Role::Analyst], None))
}

async fn create(apps: &mut Apps, application: ap::Application) -> Result<ap::Application, tonic::Status> {
    let org = application.borrower.as_ref().unwrap().organization_number.clone();
    let request = ap::CreateApplicationRequest { request_id: rid(), application: Some(application) };
    apps.create_application(borrower(request, &org)).await.map(|r| r.into_inner().application.unwrap())
}

/// `n` objectives of `chars` characters each (two bytes each: é).
fn objectives(n: usize, chars: usize) -> Vec<ap::Objective> {
    (0..n)
        .map(|i| ap::Objective { key: format!("o{i}"), description: "é".repeat(chars), change_sought: String::new() })
        .collect()
}

#[tokio::test]
async fn an_application_cannot_grow_past_what_the_service_can_send_and_a_refused_edit_keeps_nothing() {
    let db = Db::prepared(&specs()).await;
    let running = db.serve(services()[0], &[]).await;
    let mut apps = ApplicationsServiceClient::new(channel(running.grpc_addr).await)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);

    // After the reproduction: a 2 MB draft of 49 interventions of 10,000 emoji.
    let huge = ap::Application {
        interventions: (0..49)
            .map(|i| ap::Intervention {
                title: format!("I{i}"),
                description: "😀".repeat(10_000),
                ..Default::default()
            })
            .collect(),
        ..pilots::eidar()
    };
    let err = create(&mut apps, huge).await.unwrap_err();
    let info = err.get_error_details().error_info().cloned().unwrap();
    assert_eq!((err.code(), info.reason.as_str()), (Code::InvalidArgument, "TOO_LARGE"), "{err:?}");
    assert_eq!(info.metadata["limit"], limits::MAX_APPLICATION_CONTENT_BYTES.to_string());
    assert!(info.metadata["size"].parse::<usize>().unwrap() > 1_900_000);
    let listed = apps.list_applications(analyst(ap::ListApplicationsRequest::default())).await.unwrap();
    assert!(listed.into_inner().applications.is_empty(), "nothing was stored");

    // Edits, each well under the message limit, that would together pass the
    // aggregate limit: the one that would is refused, and keeps nothing.
    let draft = create(&mut apps, pilots::eidar()).await.unwrap();
    let edit = |current: &ap::Application, patch: ap::Application, path: &str| ap::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(ap::Application { name: current.name.clone(), ..patch }),
        update_mask: Some(FieldMask { paths: vec![path.into()] }),
        etag: current.etag.clone(),
    };
    let org = pilots::EIDAR;
    // 10 objectives of 9,000 two-byte characters: about 180 KB.
    let grown = ap::Application { objectives: objectives(10, 9_000), ..Default::default() };
    let first = apps.update_application(borrower(edit(&draft, grown, "objectives"), org)).await.unwrap().into_inner();
    let first = first.application.unwrap();
    assert!(first.encoded_len() > 180_000 && first.encoded_len() < limits::MAX_APPLICATION_CONTENT_BYTES);
    let more = ap::Application {
        interventions: (0..10)
            .map(|i| ap::Intervention { title: format!("I{i}"), description: "é".repeat(9_000), ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let err = apps.update_application(borrower(edit(&first, more, "interventions"), org)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::InvalidArgument, "TOO_LARGE"));
    let now = apps
        .get_application(borrower(ap::GetApplicationRequest { name: draft.name.clone() }, org))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!((now.etag.as_str(), now.interventions.len()), (first.etag.as_str(), draft.interventions.len()));
    let history = ap::ListAuditEntriesRequest { parent: draft.name.clone(), ..Default::default() };
    let entries = apps.list_audit_entries(analyst(history)).await.unwrap().into_inner().audit_entries;
    assert_eq!(entries.iter().filter(|e| e.action == "EDIT").count(), 1, "the refused edit left no history");

    // The database refuses an oversized application even past the service.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let bypass = sqlx::query("UPDATE applications.application SET content = content || $1::bytea")
        .bind(vec![0u8; limits::MAX_APPLICATION_BYTES])
        .execute(&admin)
        .await
        .unwrap_err();
    assert_eq!(bypass.as_database_error().and_then(|e| e.constraint()), Some("application_size_limit"));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_page_of_large_applications_ends_at_its_byte_budget_and_the_walk_sees_every_one_once() {
    let db = Db::prepared(&specs()).await;
    let running = db.serve(services()[0], &[("GRPC_MAX_MESSAGE_BYTES", "1048576")]).await;
    let mut apps = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let mut created = Vec::new();
    for i in 0..7 {
        let big = ap::Application { objectives: objectives(10, 9_000), ..pilots::eidar() };
        let app = create(&mut apps, if i % 2 == 0 { big } else { pilots::botkyrkabyggen() }).await.unwrap();
        created.push(app.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let request = ap::ListApplicationsRequest { page_size: 200, page_token: token.clone(), ..Default::default() };
        let page = apps.list_applications(analyst(request)).await.expect("a page always fits").into_inner();
        assert!(page.encoded_len() <= limits::PAGE_BYTES + limits::MAX_APPLICATION_BYTES);
        pages += 1;
        seen.extend(page.applications.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(pages >= 2, "four applications of about 180 KB cannot share one page of 512 KB");
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every application once");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_are_refused_and_never_become_metric_labels() {
    let db = Db::prepared(&specs()).await;
    let running = db.serve(services()[0], &[]).await;
    let ch = channel(running.grpc_addr).await;
    for i in 0..300 {
        let mut grpc = tonic::client::Grpc::new(ch.clone());
        grpc.ready().await.unwrap();
        let path: http::uri::PathAndQuery = format!("/x{i}{}/y", "z".repeat(2_000)).parse().unwrap();
        let codec = tonic_prost::ProstCodec::<ap::GetApplicationRequest, ap::GetApplicationResponse>::default();
        let err = grpc.unary(tonic::Request::new(ap::GetApplicationRequest::default()), path, codec).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }
    // An unlisted method of another service, with a valid token, is refused too.
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<ap::GetApplicationRequest, ap::GetApplicationResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/socialloans.committee.v1.CommitteeService/GetCase");
    let err = grpc.unary(analyst(ap::GetApplicationRequest::default()), path, codec).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    let body = http_get(running.metrics_addr, "/metrics").await;
    let labels: std::collections::BTreeSet<&str> =
        body.match_indices("method=\"").map(|(i, _)| body[i + 8..].split('"').next().unwrap()).collect();
    assert!(labels.contains("unknown"), "{labels:?}");
    assert!(labels.iter().all(|l| !l.starts_with('x')), "a client's path became a label: {labels:?}");
    let policy = applications::policy::POLICY.methods.len();
    assert!(labels.len() <= policy + 5, "{} labels: {labels:?}", labels.len());
    assert!(body.len() < 200_000, "the exposition grew to {} bytes", body.len());
    running.stop().await.unwrap();
}

#[tokio::test]
async fn feed_streams_are_bounded_per_caller_and_per_connection_and_end_with_their_token() {
    let db = Db::prepared(&specs()).await;
    let running = db
        .serve(
            services()[0],
            &[
                ("FEED_MAX_STREAMS_PER_CALLER", "3"),
                ("GRPC_MAX_STREAMS_PER_CONNECTION", "10"),
                ("AUTH_LEEWAY_MS", "0"),
                ("FEED_HEARTBEAT_MS", "200"),
            ],
        )
        .await;
    let auditor = token(&[Role::Auditor], None);
    let stream = || authorized(socialloans_contracts::events::StreamEventsRequest::default(), &auditor);
    // Each stream on a connection of its own, so that only the per-caller cap applies.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
        open.push(client.stream_events(stream()).await.unwrap().into_inner());
    }
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let err = client.stream_events(stream()).await.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::ResourceExhausted, "FEED_STREAMS_EXHAUSTED"));
    // Other callers and other calls are not held up.
    let started = std::time::Instant::now();
    client.list_applications(analyst(ap::ListApplicationsRequest::default())).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    let service = token(&[Role::Service], None);
    let other =
        client.stream_events(authorized(socialloans_contracts::events::StreamEventsRequest::default(), &service)).await;
    assert!(other.is_ok(), "another caller has streams of its own");
    // A closed stream gives its place back.
    drop(open.pop());
    let reopened = e2e::eventually(Duration::from_secs(5), || {
        let mut client = client.clone();
        let request = stream();
        async move { client.stream_events(request).await.is_ok() }
    })
    .await;
    assert!(reopened, "the closed stream's place was not given back");

    // One connection carries at most 10 streams at once: the 11th waits.
    let ch = channel(running.grpc_addr).await;
    let mut watches = Vec::new();
    for _ in 0..10 {
        let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        watches.push(health.watch(request).await.unwrap().into_inner());
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let eleventh = health.watch(tonic_health::pb::HealthCheckRequest { service: String::new() });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), eleventh).await.is_err(),
        "the server let an 11th stream open on one connection"
    );
    drop(watches);

    // A stream opened with a token that expires in 2 s ends then, as UNAUTHENTICATED.
    // Its expiry is in whole seconds: at least 1 s after minting, whatever the
    // machine's load delays between minting and the stream's start.
    let minted = std::time::Instant::now();
    let brief = minter().mint("brief-auditor", &[Role::Auditor], None, Duration::from_secs(2));
    let mut client = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let mut feed = client
        .stream_events(authorized(socialloans_contracts::events::StreamEventsRequest::default(), &brief))
        .await
        .unwrap()
        .into_inner();
    let ended = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match feed.message().await {
                Ok(Some(_)) => continue, // heartbeats
                other => return other,
            }
        }
    })
    .await
    .expect("the stream outlived its token by more than 4 s");
    let err = ended.unwrap_err();
    assert_eq!((err.code(), reason(&err).as_str()), (Code::Unauthenticated, "TOKEN_EXPIRED"));
    assert!(minted.elapsed() >= Duration::from_secs(1), "it ended before the token expired");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn times_dates_and_texts_a_database_cannot_hold_are_refused_by_name() {
    let db = Db::prepared(&specs()).await;
    let apps_service = db.serve(services()[0], &[]).await;
    let committee_service = db.serve(services()[1], &[]).await;
    let mut apps = ApplicationsServiceClient::new(channel(apps_service.grpc_addr).await);
    let mut committee = CommitteeServiceClient::new(channel(committee_service.grpc_addr).await);
    let field = |err: &tonic::Status| {
        err.get_error_details().bad_request().map(|b| b.field_violations[0].field.clone()).unwrap_or_default()
    };

    let ancient = prost_types::Timestamp { seconds: -250_000_000_000, nanos: 0 };
    let request = ap::ListApplicationsRequest { submitted_after: Some(ancient), ..Default::default() };
    let err = apps.list_applications(analyst(request)).await.unwrap_err();
    assert_eq!((err.code(), field(&err).as_str()), (Code::InvalidArgument, "submitted_after"));
    let bad_nanos = prost_types::Timestamp { seconds: 0, nanos: -5 };
    let request = ap::ListApplicationsRequest { submitted_before: Some(bad_nanos), ..Default::default() };
    assert_eq!(field(&apps.list_applications(analyst(request)).await.unwrap_err()), "submitted_before");

    // A page token whose cursor holds a time PostgreSQL cannot compare with.
    create(&mut apps, pilots::eidar()).await.unwrap();
    create(&mut apps, pilots::eidar()).await.unwrap();
    let first = apps
        .list_applications(analyst(ap::ListApplicationsRequest { page_size: 1, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    let decoded = base64_decode(&first.next_page_token);
    let (query, cursor) = decoded.split_once('\u{1f}').unwrap();
    let (_, key) = cursor.split_once('|').unwrap();
    let forged = base64_encode(&format!("{query}\u{1f}{}|{key}", -250_000_000_000_000_000i64));
    let request = ap::ListApplicationsRequest { page_size: 1, page_token: forged, ..Default::default() };
    let err = apps.list_applications(analyst(request)).await.unwrap_err();
    assert_eq!((err.code(), field(&err).as_str()), (Code::InvalidArgument, "page_token"));

    // A meeting in year 262143, and one at the very end of time.
    for seconds in [8_210_266_876_800, 8_210_298_412_799] {
        let meeting = cm::Meeting {
            title: "Möte".into(),
            start_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        };
        let request = cm::CreateMeetingRequest { request_id: rid(), meeting: Some(meeting) };
        let err =
            committee.create_meeting(authorized(request, &token(&[Role::CommitteeSecretary], None))).await.unwrap_err();
        assert_eq!((err.code(), field(&err).as_str()), (Code::InvalidArgument, "meeting.start_time"));
    }

    // NUL in a list filter that no check reads: still INVALID_ARGUMENT, never INTERNAL.
    let request = ap::ListApplicationsRequest { organization_number: "55\0".into(), ..Default::default() };
    assert_eq!(apps.list_applications(analyst(request)).await.unwrap_err().code(), Code::InvalidArgument);
    let request = cm::ListCasesRequest { application: "applications/\0".into(), ..Default::default() };
    let err = committee.list_cases(authorized(request, &token(&[Role::Auditor], None))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    // NUL and other control characters in a reason.
    let draft = create(&mut apps, pilots::eidar()).await.unwrap();
    let withdraw = ap::WithdrawApplicationRequest {
        name: draft.name.clone(),
        request_id: rid(),
        reason: "fel\0ansökan".into(),
        ..Default::default()
    };
    let err = apps.withdraw_application(borrower(withdraw, pilots::EIDAR)).await.unwrap_err();
    assert_eq!((err.code(), field(&err).as_str()), (Code::InvalidArgument, "reason"));
    // A calendar date that is not one, and a population beyond any country.
    let bad = ap::Application {
        investment: Some(ap::Investment {
            schedule: Some(ap::InvestmentSchedule {
                start_date: Some(common::Date { year: 2020, month: 2, day: 30 }),
                ..Default::default()
            }),
            ..pilots::eidar().investment.unwrap()
        }),
        target_groups: vec![common::TargetGroup {
            estimated_size: i64::MAX,
            ..pilots::eidar().target_groups[0].clone()
        }],
        ..pilots::eidar()
    };
    let err = create(&mut apps, bad).await.unwrap_err();
    let fields: Vec<String> =
        err.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert!(fields.contains(&"application.investment.schedule.start_date".to_owned()), "{fields:?}");
    assert!(fields.contains(&"application.target_groups[0].estimated_size".to_owned()), "{fields:?}");
    apps_service.stop().await.unwrap();
    committee_service.stop().await.unwrap();
}

#[tokio::test]
async fn an_error_lists_at_most_fifty_violations_and_stays_readable_by_any_client() {
    let db = Db::prepared(&specs()).await;
    let running = db.serve(services()[0], &[]).await;
    let mut apps = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    // 50 target groups with three bad fields each: 150 violations.
    let groups = (0..50)
        .map(|_| common::TargetGroup {
            population: 999,
            description: "\0".repeat(20_000),
            estimated_size: -1,
            ..Default::default()
        })
        .collect();
    let bad = ap::Application { target_groups: groups, ..pilots::eidar() };
    let err = create(&mut apps, bad).await.unwrap_err();
    let details = err.get_error_details();
    let listed = details.bad_request().unwrap().field_violations.len();
    let info = details.error_info().unwrap();
    assert!(listed <= 50, "{listed}");
    assert_eq!(info.metadata["violations_total"], "150");
    assert_eq!(info.metadata["violations_omitted"], (150 - listed).to_string());
    let trailer_bytes = err.details().len() * 4 / 3 + err.message().len() * 3;
    assert!(trailer_bytes < 8 * 1024, "{trailer_bytes} bytes of trailers");
    // The original reproduction: 100,000 bad SDG targets in a 0.55 MB request.
    let many = ap::Application { sdg_targets: vec!["99.zz".into(); 100_000], ..pilots::eidar() };
    let err = create(&mut apps, many).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.details().len() < 6 * 1024, "{} bytes of details", err.details().len());
    running.stop().await.unwrap();
}

fn base64_decode(token: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap()
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_borrowers_type_is_given_once_and_never_changed() {
    let db = Db::prepared(&specs()).await;
    let running = db.serve(services()[0], &[]).await;
    let mut apps = ApplicationsServiceClient::new(channel(running.grpc_addr).await);
    let typeless = ap::Application {
        borrower: Some(ap::Borrower { r#type: 0, ..pilots::eidar().borrower.unwrap() }),
        ..pilots::eidar()
    };
    let err = create(&mut apps, typeless).await.unwrap_err();
    let fields: Vec<String> =
        err.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    assert_eq!(fields, ["application.borrower.type"]);

    let draft = create(&mut apps, pilots::eidar()).await.unwrap();
    let retype = |current: &ap::Application, kind: ap::OrganizationType| ap::UpdateApplicationRequest {
        request_id: rid(),
        application: Some(ap::Application {
            name: current.name.clone(),
            borrower: Some(ap::Borrower { r#type: kind as i32, ..current.borrower.clone().unwrap() }),
            ..Default::default()
        }),
        update_mask: Some(FieldMask { paths: vec!["borrower.type".into()] }),
        etag: current.etag.clone(),
    };
    let other = ap::OrganizationType::Region;
    let err = apps.update_application(borrower(retype(&draft, other), pilots::EIDAR)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "a type once given is not changed");

    // A draft from before the type was required (as the database holds it).
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let id = uuid::Uuid::parse_str(draft.name.trim_start_matches("applications/")).unwrap();
    let content: Vec<u8> = sqlx::query_scalar("SELECT content FROM applications.application WHERE id = $1")
        .bind(id)
        .fetch_one(&admin)
        .await
        .unwrap();
    let mut legacy = ap::Application::decode(content.as_slice()).unwrap();
    legacy.borrower.as_mut().unwrap().r#type = 0;
    sqlx::query("UPDATE applications.application SET content = $2 WHERE id = $1")
        .bind(id)
        .bind(legacy.encode_to_vec())
        .execute(&admin)
        .await
        .unwrap();
    let set = apps.update_application(borrower(retype(&draft, other), pilots::EIDAR)).await.unwrap().into_inner();
    let set = set.application.unwrap();
    assert_eq!(set.borrower.as_ref().unwrap().r#type, other as i32, "set once");
    let again = retype(&set, ap::OrganizationType::Municipality);
    assert_eq!(
        apps.update_application(borrower(again, pilots::EIDAR)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    running.stop().await.unwrap();
}
