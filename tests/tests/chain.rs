//! The committee's audit chain proves the decisions, and cannot be quietly
//! rewritten: after the whole pilot story, a decision changed in the
//! database is found; a rewrite of the chain by the superuser, consistent by
//! the documented formula, and the loss of its tail, are found against an
//! anchor kept outside the committee service — the head signed with the
//! chain key, or the chain entry each application carries.

use base64::{Engine, engine::general_purpose::STANDARD};
use e2e::{Db, authorized, channel, specs, token};
use prost::Message;
use ring::signature::{ED25519, UnparsedPublicKey};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee::{self as cm, committee_service_client::CommitteeServiceClient},
};
use socialloans_platform::Role;

#[tokio::test(flavor = "multi_thread")]
async fn the_chain_finds_a_changed_decision_a_rewrite_and_a_lost_tail_against_its_anchors() {
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = e2e::start_all(&db).await;
    let out = std::env::temp_dir().join(format!("socialloans-chain-{}", uuid::Uuid::now_v7()));
    let story = socialloans::demo::run(&endpoints, testkit::SECRET, &out, &mut |_| {}).await;
    let _ = std::fs::remove_dir_all(&out);
    let story = story.expect("the pilot story runs to the end");
    let mut committee = CommitteeServiceClient::new(channel(running[1].grpc_addr).await);
    let mut apps = ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let auditor = token(&[Role::Auditor], None);
    let verify = |anchor: Option<(i64, String)>| {
        let (anchor_sequence, anchor_hash) = anchor.unwrap_or_default();
        authorized(cm::VerifyAuditChainRequest { anchor_sequence, anchor_hash, ..Default::default() }, &auditor)
    };

    // A signed head, kept by the auditor; it verifies offline with the public key.
    let head = committee
        .get_chain_head(authorized(cm::GetChainHeadRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner()
        .chain_head
        .unwrap();
    let public = UnparsedPublicKey::new(&ED25519, STANDARD.decode(&head.public_key).unwrap());
    assert!(public.verify(head.signed_message.as_bytes(), &STANDARD.decode(&head.signature).unwrap()).is_ok());
    assert!(head.signed_message.contains(&format!("\n{}\n{}\n", head.sequence, head.hash)));
    // The service signed and kept the head at every confirmation and approval of minutes.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let kept: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT sequence, hash, public_key, signature FROM committee.chain_head_signature ORDER BY sequence",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(kept.len() >= 3, "{kept:?}");
    let anchor_a = (head.sequence, head.hash.clone());
    let ok = committee.verify_audit_chain(verify(Some(anchor_a.clone()))).await.unwrap().into_inner();
    assert!(ok.valid, "{ok:?}");

    // Each application carries the chain's entry of its decision.
    let eidar = apps
        .get_application(authorized(ap::GetApplicationRequest { name: story.applications[1].clone() }, &auditor))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap()
        .committee_decision
        .unwrap();
    assert!(eidar.chain_sequence > 0 && eidar.chain_hash.len() == 64, "{eidar:?}");
    let anchor_b = (eidar.chain_sequence, eidar.chain_hash.clone());
    assert!(committee.verify_audit_chain(verify(Some(anchor_b.clone()))).await.unwrap().into_inner().valid);

    // 1. A decision changed in the database (75 MSEK made 750) is found.
    let case_id = uuid::Uuid::parse_str(story.cases[1].trim_start_matches("cases/")).unwrap();
    let original: Vec<u8> = sqlx::query_scalar("SELECT content FROM committee.committee_case WHERE id = $1")
        .bind(case_id)
        .fetch_one(&admin)
        .await
        .unwrap();
    let mut case = cm::Case::decode(original.as_slice()).unwrap();
    let decision = case.decisions.iter_mut().find(|d| d.approved_amount.is_some()).unwrap();
    decision.approved_amount.as_mut().unwrap().minor_units *= 10;
    let decision_name = decision.name.clone();
    sqlx::query("UPDATE committee.committee_case SET content = $2 WHERE id = $1")
        .bind(case_id)
        .bind(case.encode_to_vec())
        .execute(&admin)
        .await
        .unwrap();
    let changed = committee.verify_audit_chain(verify(None)).await.unwrap().into_inner();
    assert!(!changed.valid);
    assert_eq!(changed.invalid_reason, "RECORD_CHANGED");
    let entries = committee
        .list_audit_entries(authorized(cm::ListAuditEntriesRequest { page_size: 200, ..Default::default() }, &auditor))
        .await
        .unwrap()
        .into_inner()
        .audit_entries;
    let recorded = entries.iter().find(|e| e.resource == decision_name && e.action == "DECISION_RECORDED").unwrap();
    assert_eq!(changed.first_invalid_sequence, recorded.sequence, "the first entry of that decision is named");
    sqlx::query("UPDATE committee.committee_case SET content = $2 WHERE id = $1")
        .bind(case_id)
        .bind(&original)
        .execute(&admin)
        .await
        .unwrap();
    assert!(committee.verify_audit_chain(verify(None)).await.unwrap().into_inner().valid, "restored");

    // 2. A consistent rewrite by the superuser, from the decision's entry on:
    // every later hash recomputed by the documented formula.
    let from = recorded.sequence;
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
    let mut rows: Vec<committee::chain::Stored> = sqlx::query_as(
        "SELECT sequence, action, resource, actor_subject, actor_role, occur_time, request_id, summary, payload_sha256,
                previous_hash, hash
           FROM committee.audit_chain WHERE sequence >= $1 - 1 ORDER BY sequence",
    )
    .bind(from)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    for i in 1..rows.len() {
        if rows[i].sequence == from {
            rows[i].summary.push_str(" (rewritten)");
        }
        rows[i].previous_hash = rows[i - 1].hash.clone();
        rows[i].hash = committee::chain::hash_of(&rows[i]);
        sqlx::query("UPDATE committee.audit_chain SET summary = $2, previous_hash = $3, hash = $4 WHERE sequence = $1")
            .bind(rows[i].sequence)
            .bind(&rows[i].summary)
            .bind(&rows[i].previous_hash)
            .bind(&rows[i].hash)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let internal = committee.verify_audit_chain(verify(None)).await.unwrap().into_inner();
    assert!(internal.valid, "without an anchor a consistent rewrite looks whole: {internal:?}");
    for anchor in [anchor_a.clone(), anchor_b.clone()] {
        let found = committee.verify_audit_chain(verify(Some(anchor.clone()))).await.unwrap().into_inner();
        assert_eq!((found.valid, found.invalid_reason.as_str()), (false, "ANCHOR_MISMATCH"), "{anchor:?}");
        assert_eq!(found.first_invalid_sequence, anchor.0);
    }

    // 3. The tail lost: against the signed head, the chain is truncated.
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
    sqlx::query("DELETE FROM committee.audit_chain WHERE sequence > $1 - 2")
        .bind(head.sequence)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let truncated = committee.verify_audit_chain(verify(Some(anchor_a))).await.unwrap().into_inner();
    assert_eq!((truncated.valid, truncated.invalid_reason.as_str()), (false, "TRUNCATED"));

    // Anchors are checked by shape.
    let bad = committee.verify_audit_chain(verify(Some((1, "xyz".into())))).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    for running in running {
        running.stop().await.unwrap();
    }
}
