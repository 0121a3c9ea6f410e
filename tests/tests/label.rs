//! The social label, checked every year (issue 18, item 6): an analyst
//! re-assesses an active plan's label and keeps it; a withdrawal needs a
//! second analyst, reaches core banking's feed with the date the discount
//! ends, and takes the loan out of the portfolio's social figures from that
//! date; the plan keeps why. Each rule is also tried from the edge.

use e2e::{
    Db, channel,
    flow::{committee_decides, refer, rid, staff, staff_as, wait_for_state, wait_plan_state},
    pilots, reason, specs, start_all,
};
use socialloans_contracts::{
    applications::{self as ap, applications_service_client::ApplicationsServiceClient},
    committee as cm, common,
    monitoring::{
        self as mo, LabelReassessmentOutcome as Outcome, SocialLabelState as Label,
        monitoring_service_client::MonitoringServiceClient,
    },
};
use socialloans_platform::Role;
use tonic::Code;

fn day(d: chrono::NaiveDate) -> common::Date {
    use chrono::Datelike;
    common::Date { year: d.year(), month: d.month() as i32, day: d.day() as i32 }
}

fn reassess(
    plan: &str,
    outcome: Outcome,
    rationale: &str,
    effective: Option<common::Date>,
) -> mo::ReassessSocialLabelRequest {
    mo::ReassessSocialLabelRequest {
        name: plan.into(),
        request_id: rid(),
        outcome: outcome as i32,
        rationale: rationale.into(),
        effective_date: effective,
        ..Default::default()
    }
}

fn label(plan: &mo::MonitoringPlan) -> &mo::SocialLabel {
    plan.social_label.as_ref().expect("every plan has a label")
}

async fn portfolio(plans: &mut MonitoringServiceClient<tonic::transport::Channel>, as_of: chrono::NaiveDate) -> i32 {
    let request = mo::GetPortfolioImpactReportRequest { as_of: Some(day(as_of)), ..Default::default() };
    let report = plans.get_portfolio_impact_report(staff(request, Role::Analyst)).await.unwrap().into_inner();
    report.portfolio_impact_report.unwrap().plan_count
}

/// AB Eidar referred and approved; its pending plan.
async fn approved_eidar(
    db: &Db,
    apps: &mut ApplicationsServiceClient<tonic::transport::Channel>,
    plans: &mut MonitoringServiceClient<tonic::transport::Channel>,
) -> (String, mo::MonitoringPlan) {
    let eidar = refer(apps, pilots::eidar()).await;
    committee_decides(db, &eidar, cm::DecisionOutcome::ApproveWithConditions, 75_000_000).await;
    wait_for_state(apps, &eidar, ap::ApplicationState::ApprovedWithConditions).await;
    let pending = wait_plan_state(plans, &eidar, mo::MonitoringPlanState::Pending).await;
    (eidar, pending)
}

#[tokio::test]
async fn a_label_is_kept_by_one_analyst_and_withdrawn_only_by_two_and_core_banking_hears_of_it() {
    let db = Db::prepared(&specs()).await;
    let (running, _) = start_all(&db).await;
    let apps = &mut ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let plans = &mut MonitoringServiceClient::new(channel(running[2].grpc_addr).await);
    let today = socialloans_platform::stockholm_date(chrono::Utc::now());

    let (eidar, pending) = approved_eidar(&db, apps, plans).await;
    // Not re-assessed before reporting runs.
    let early = plans
        .reassess_social_label(staff(reassess(&pending.name, Outcome::Retained, "för tidigt", None), Role::Analyst))
        .await
        .unwrap_err();
    assert_eq!((early.code(), reason(&early).as_str()), (Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION"));
    let activate =
        mo::ActivateMonitoringPlanRequest { name: pending.name.clone(), request_id: rid(), ..Default::default() };
    let plan = plans.activate_monitoring_plan(staff(activate, Role::Analyst)).await.unwrap().into_inner();
    let plan = plan.monitoring_plan.unwrap();
    let name = plan.name.clone();
    assert_eq!(label(&plan).state, Label::Labelled as i32);
    let next = label(&plan).next_reassessment_date.unwrap();
    assert_eq!((next.year, next.month, next.day), {
        let n = day(today.checked_add_months(chrono::Months::new(12)).unwrap());
        (n.year, n.month, n.day)
    });

    // A year on, Anna keeps the label: recorded with what it rests on, and the next one moves on.
    let kept = reassess(&name, Outcome::Retained, "Målen nås: kvarboendet ökar", None);
    let kept = plans.reassess_social_label(staff_as("anna", kept, Role::Analyst)).await.unwrap().into_inner();
    let kept = kept.monitoring_plan.unwrap();
    let record = &label(&kept).reassessments[0];
    assert_eq!(
        (record.outcome, record.assessed_by.as_ref().unwrap().subject.as_str()),
        (Outcome::Retained as i32, "anna")
    );
    assert_eq!(label(&kept).state, Label::Labelled as i32);
    assert_eq!(portfolio(plans, today).await, 1);

    // From the edge: no date for a withdrawal, a date before the plan, a date
    // for a retention, an unknown outcome, a borrower — each refused, nothing stored.
    let bad = [
        (reassess(&name, Outcome::Withdrawn, "x", None), "effective_date"),
        (
            reassess(&name, Outcome::Withdrawn, "x", Some(common::Date { year: 2001, month: 1, day: 1 })),
            "effective_date",
        ),
        (reassess(&name, Outcome::Retained, "x", Some(day(today))), "effective_date"),
        (mo::ReassessSocialLabelRequest { outcome: 7, ..reassess(&name, Outcome::Retained, "x", None) }, "outcome"),
        (reassess(&name, Outcome::Retained, "", None), "rationale"),
    ];
    for (request, field) in bad {
        let refused = plans.reassess_social_label(staff(request, Role::Analyst)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        let details = tonic_types::StatusExt::get_error_details(&refused);
        assert_eq!(details.bad_request().unwrap().field_violations[0].field, field);
    }
    let borrower = e2e::flow::as_borrower(pilots::EIDAR, reassess(&name, Outcome::Retained, "x", None));
    assert_eq!(plans.reassess_social_label(borrower).await.unwrap_err().code(), Code::PermissionDenied);

    // Anna proposes the withdrawal; it waits, and the loan is still social.
    let from = today + chrono::Duration::days(30);
    let propose = reassess(&name, Outcome::Withdrawn, "Lägenheterna säljs på den öppna marknaden", Some(day(from)));
    let proposed = plans.reassess_social_label(staff_as("anna", propose, Role::Analyst)).await.unwrap().into_inner();
    assert_eq!(label(proposed.monitoring_plan.as_ref().unwrap()).state, Label::WithdrawalProposed as i32);
    let again = reassess(&name, Outcome::Withdrawn, "igen", Some(day(from)));
    let again = plans.reassess_social_label(staff_as("bo", again, Role::Analyst)).await.unwrap_err();
    assert_eq!(reason(&again), "WITHDRAWAL_PENDING");
    // Anna cannot confirm her own proposal.
    let confirm = |request_id: &str| mo::ConfirmSocialLabelWithdrawalRequest {
        name: name.clone(),
        request_id: request_id.into(),
        ..Default::default()
    };
    let own =
        plans.confirm_social_label_withdrawal(staff_as("anna", confirm(&rid()), Role::Analyst)).await.unwrap_err();
    assert_eq!((own.code(), reason(&own).as_str()), (Code::FailedPrecondition, "SECOND_PERSON_REQUIRED"));

    // Bo confirms; a retry of his call answers the same and publishes nothing twice.
    let request_id = rid();
    let withdrawn = plans.confirm_social_label_withdrawal(staff_as("bo", confirm(&request_id), Role::Analyst)).await;
    let withdrawn = withdrawn.unwrap().into_inner().monitoring_plan.unwrap();
    let retried = plans.confirm_social_label_withdrawal(staff_as("bo", confirm(&request_id), Role::Analyst)).await;
    assert_eq!(retried.unwrap().into_inner().monitoring_plan.unwrap(), withdrawn);
    let label_now = label(&withdrawn);
    assert_eq!(label_now.state, Label::Withdrawn as i32);
    assert_eq!(label_now.withdrawn_from, Some(day(from)));
    assert_eq!(label_now.next_reassessment_date, None);
    let last = label_now.reassessments.last().unwrap();
    assert_eq!(
        (last.assessed_by.as_ref().unwrap().subject.as_str(), last.confirmed_by.as_ref().unwrap().subject.as_str()),
        ("anna", "bo")
    );
    // Nothing is re-assessed after a withdrawal, and nothing waits to be confirmed.
    let after = plans
        .reassess_social_label(staff(reassess(&name, Outcome::Retained, "x", None), Role::Analyst))
        .await
        .unwrap_err();
    assert_eq!(reason(&after), "LABEL_WITHDRAWN");
    let none = plans.confirm_social_label_withdrawal(staff_as("cecilia", confirm(&rid()), Role::Analyst)).await;
    assert_eq!(reason(&none.unwrap_err()), "NO_WITHDRAWAL_PROPOSED");

    // Social until the day before the withdrawal takes effect, not from it.
    assert_eq!(portfolio(plans, from - chrono::Duration::days(1)).await, 1);
    assert_eq!(portfolio(plans, from).await, 0);

    // Core banking's feed carries the withdrawal once, with the day the discount ends.
    let mut told = Vec::new();
    for _ in 0..100 {
        let request = socialloans_contracts::events::StreamEventsRequest {
            types: vec![<ap::ApplicationLabelWithdrawn as prost::Name>::full_name()],
            ..Default::default()
        };
        let mut stream = apps.stream_events(staff(request, Role::CoreBanking)).await.unwrap().into_inner();
        told.clear();
        while let Some(event) = stream.message().await.unwrap().and_then(|m| m.event) {
            told.push(event);
        }
        if !told.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(told.len(), 1, "{told:?}");
    let event: ap::ApplicationLabelWithdrawn =
        prost::Message::decode(told[0].payload.as_ref().unwrap().value.as_slice()).unwrap();
    let withdrawal = event.label_withdrawal.unwrap();
    assert_eq!((withdrawal.effective_date, withdrawal.monitoring_plan.as_str()), (Some(day(from)), name.as_str()));
    assert_eq!(event.application, eidar);
    let got = apps.get_application(staff(ap::GetApplicationRequest { name: eidar.clone() }, Role::CoreBanking)).await;
    let got = got.unwrap().into_inner().application.unwrap();
    assert_eq!(got.label_withdrawal.unwrap().reason, "Lägenheterna säljs på den öppna marknaden");

    // The plan's trail keeps why, in order.
    let trail = mo::ListAuditEntriesRequest { resource: name.clone(), ..Default::default() };
    let trail = plans.list_audit_entries(staff(trail, Role::Auditor)).await.unwrap().into_inner().audit_entries;
    let said: Vec<&str> = trail.iter().map(|e| e.comment.as_str()).filter(|c| c.contains(':')).collect();
    assert_eq!(
        said[said.len() - 3..],
        [
            "label kept: Målen nås: kvarboendet ökar",
            "withdrawal proposed: Lägenheterna säljs på den öppna marknaden",
            "withdrawal confirmed: Lägenheterna säljs på den öppna marknaden"
        ]
    );

    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_proposal_overruled_cannot_be_confirmed_and_two_confirmations_at_once_withdraw_once() {
    let db = Db::prepared(&specs()).await;
    let (running, _) = start_all(&db).await;
    let apps = &mut ApplicationsServiceClient::new(channel(running[0].grpc_addr).await);
    let plans = &mut MonitoringServiceClient::new(channel(running[2].grpc_addr).await);
    let today = socialloans_platform::stockholm_date(chrono::Utc::now());
    let (_, pending) = approved_eidar(&db, apps, plans).await;
    let activate =
        mo::ActivateMonitoringPlanRequest { name: pending.name.clone(), request_id: rid(), ..Default::default() };
    plans.activate_monitoring_plan(staff(activate, Role::Analyst)).await.unwrap();
    let name = pending.name.clone();
    let from = Some(day(today + chrono::Duration::days(10)));
    let propose =
        |who: &str| staff_as(who, reassess(&name, Outcome::Withdrawn, "Villkoren bryts", from), Role::Analyst);
    let confirm = |who: &str| {
        let request =
            mo::ConfirmSocialLabelWithdrawalRequest { name: name.clone(), request_id: rid(), ..Default::default() };
        staff_as(who, request, Role::Analyst)
    };

    // Anna proposes; Bo disagrees and keeps the label: the proposal stays in
    // the history, unconfirmed, and can no longer be confirmed.
    plans.reassess_social_label(propose("anna")).await.unwrap();
    let keep = staff_as("bo", reassess(&name, Outcome::Retained, "Villkoren uppfylls i sak", None), Role::Analyst);
    let kept = plans.reassess_social_label(keep).await.unwrap().into_inner().monitoring_plan.unwrap();
    let history = &label(&kept).reassessments;
    assert_eq!(label(&kept).state, Label::Labelled as i32);
    assert_eq!(history.len(), 2);
    assert!(history[0].confirmed_by.is_none(), "the overruled proposal is kept as it was");
    let late = plans.confirm_social_label_withdrawal(confirm("cecilia")).await.unwrap_err();
    assert_eq!(reason(&late), "NO_WITHDRAWAL_PROPOSED");

    // Proposed again, two analysts confirm at the same moment: one does, the
    // other is told there is nothing left to confirm; one event is published.
    plans.reassess_social_label(propose("anna")).await.unwrap();
    let (mut first, mut second) = (plans.clone(), plans.clone());
    let (a, b) = tokio::join!(
        first.confirm_social_label_withdrawal(confirm("bo")),
        second.confirm_social_label_withdrawal(confirm("cecilia"))
    );
    let outcomes = [a.map(|_| String::new()), b.map(|_| String::new())];
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    let lost = outcomes.into_iter().find_map(Result::err).unwrap();
    assert_eq!(reason(&lost), "NO_WITHDRAWAL_PROPOSED");
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let published: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM monitoring.outbox WHERE event_type = 'socialloans.monitoring.v1.SocialLabelWithdrawn'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(published, 1);

    for service in running.into_iter().rev() {
        service.stop().await.unwrap();
    }
}
