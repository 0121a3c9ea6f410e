//! Erased means erased everywhere: after the whole pilot story, the contact
//! persons are erased, and then every table of every schema is searched, as
//! the database superuser, for their names, e-mail addresses and phone
//! numbers — in text and in the protobuf bytes the services store.

use std::time::Duration;

use e2e::{Db, authorized, flow::rid, pilots, specs, token};
use socialloans_contracts::applications::{self as ap, applications_service_client::ApplicationsServiceClient};
use socialloans_platform::Role;
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_contact_person_is_nowhere_in_any_schema_after_the_whole_story() {
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = e2e::start_all(&db).await;
    let out = std::env::temp_dir().join(format!("socialloans-erasure-{}", uuid::Uuid::now_v7()));
    let story = socialloans::demo::run(&endpoints, testkit::SECRET, &out, &mut |_| {}).await;
    let _ = std::fs::remove_dir_all(&out);
    let story = story.expect("the pilot story runs to the end");

    let people: Vec<ap::ContactPerson> =
        [pilots::botkyrkabyggen(), pilots::eidar()].into_iter().map(|p| p.contact_person.unwrap()).collect();
    let mut apps = ApplicationsServiceClient::new(e2e::channel(running[0].grpc_addr).await);
    let analyst = token(&[Role::Analyst], None);
    for (application, person) in story.applications.iter().zip(&people) {
        // The reason stays in the history for ever: it may not repeat what is
        // erased, in any spelling a clerk would type.
        let local_part = person.email.split('@').next().unwrap().to_uppercase();
        let spaced_phone = person.phone.replace("+46 ", "0").replace(' ', "-");
        let mut reasons = vec![format!("Begäran från {}", person.name), format!("Mejl från {local_part}")];
        if !person.phone.is_empty() {
            reasons.push(format!("Samtal från {spaced_phone}"));
        }
        for reason in reasons {
            let careless = ap::EraseContactPersonRequest { name: application.clone(), request_id: rid(), reason };
            let err = apps.erase_contact_person(authorized(careless, &analyst)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
        }
        let erase = ap::EraseContactPersonRequest {
            name: application.clone(),
            request_id: rid(),
            reason: "GDPR-begäran 2027-17".into(),
        };
        let erased = apps.erase_contact_person(authorized(erase, &analyst)).await.unwrap().into_inner();
        assert!(erased.application.unwrap().contact_person.unwrap().erased);
    }
    // Replaying the first answer a borrower got (its CreateApplication) shows the erasure, not the person.
    let org = pilots::EIDAR;
    let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilots::eidar()) };
    let first = apps
        .create_application(authorized(create.clone(), &token(&[Role::Borrower], Some(org))))
        .await
        .unwrap()
        .into_inner();
    assert!(first.application.as_ref().unwrap().contact_person.as_ref().is_some_and(|c| !c.name.is_empty()));
    let erase = ap::EraseContactPersonRequest {
        name: first.application.unwrap().name,
        request_id: rid(),
        reason: "GDPR-begäran 2027-18".into(),
    };
    apps.erase_contact_person(authorized(erase, &analyst)).await.unwrap();
    let replayed =
        apps.create_application(authorized(create, &token(&[Role::Borrower], Some(org)))).await.unwrap().into_inner();
    let contact = replayed.application.unwrap().contact_person.unwrap();
    assert!(contact.erased && contact.name.is_empty() && contact.email.is_empty(), "{contact:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every table of every service schema, as the superuser: not a trace.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
          WHERE table_schema IN ('applications', 'committee', 'monitoring') AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(tables.len() > 20, "{tables:?}");
    let mut needles = Vec::new();
    for person in &people {
        needles.extend([person.name.clone(), person.email.clone(), person.phone.clone()]);
    }
    let pilot_contact = pilots::eidar().contact_person.unwrap();
    needles.extend([pilot_contact.name, pilot_contact.email]);
    let mut hits = Vec::new();
    for (schema, table) in &tables {
        for needle in needles.iter().filter(|n| !n.is_empty()) {
            // A row's text form shows bytea as hex: search both spellings.
            let sql = format!(
                "SELECT count(*) FROM {}.{} AS t
                  WHERE strpos(t::text, $1) > 0 OR strpos(t::text, encode(convert_to($1, 'UTF8'), 'hex')) > 0",
                quote(schema),
                quote(table)
            );
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&admin).await.unwrap();
            if count > 0 {
                hits.push(format!("{schema}.{table}: {count} row(s) hold {needle:?}"));
            }
        }
    }
    assert!(hits.is_empty(), "erased personal data is still stored:\n{}", hits.join("\n"));
    for running in running {
        running.stop().await.unwrap();
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}
