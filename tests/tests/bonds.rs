//! The bond register (issue 20), over gRPC with real PostgreSQL and the
//! real feeds: the applications and monitoring services serve the events
//! the test appends to their outboxes, exactly as they would publish them,
//! so that dates can be chosen freely. Each rule is tried from the edge:
//! wrong roles, replays, concurrent issues, bad and huge values, the
//! service's own database credential.

use std::time::Duration;

use e2e::{
    Db,
    flow::{as_borrower, rid, staff, staff_as},
    pilots, reason, specs, start_all, violations,
};
use socialloans_contracts::{
    applications as ap,
    bonds::{self as pb, bonds_service_client::BondsServiceClient},
    common::{Date, Money},
    monitoring as mo,
};
use socialloans_platform::{Role, Running};
use tonic::{Code, transport::Channel};

type Client = BondsServiceClient<Channel>;

struct Suite {
    db: Db,
    running: Vec<Running>,
    client: Client,
}

const BOTKYRKA: &str = "applications/0190f000-0000-7000-8000-000000000001";
const EIDAR: &str = "applications/0190f000-0000-7000-8000-000000000002";

impl Suite {
    async fn start() -> Suite {
        let db = Db::prepared(&specs()).await;
        let (running, endpoints) = start_all(&db).await;
        let client = BondsServiceClient::connect(endpoints.bonds.clone()).await.unwrap();
        Suite { db, running, client }
    }

    async fn stop(self) {
        for service in self.running {
            service.stop().await.unwrap();
        }
    }

    /// Appends `event` to `service`'s feed, as that service would publish it.
    async fn publish<M: prost::Message + prost::Name>(&self, service: &str, aggregate: &str, event: &M) {
        let pool = sqlx::PgPool::connect(&self.db.service_url(service)).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        socialloans_platform::events::append(&mut tx, service, aggregate, None, event).await.unwrap();
        tx.commit().await.unwrap();
        pool.close().await;
    }

    /// The two pilots approved: Botkyrkabyggen's renovation (cost 2 000
    /// MSEK) and Eidar's safety project (cost 100 MSEK).
    async fn approve_pilots(&self) {
        for (name, mut pilot, cost) in
            [(BOTKYRKA, pilots::botkyrkabyggen(), 2_000_000_000), (EIDAR, pilots::eidar(), 100_000_000)]
        {
            pilot.name = name.into();
            if let Some(investment) = pilot.investment.as_mut() {
                investment.total_amount = pilots::sek(cost);
            }
            self.publish("applications", name, &ap::ApplicationApproved { application: Some(pilot) }).await;
        }
    }

    async fn tag(&self, application: &str, loan_id: &str, kronor: i64, disbursed: Date, matures: Date) {
        let loan = ap::LoanTag {
            loan_id: loan_id.into(),
            principal: pilots::sek(kronor),
            disbursement_date: Some(disbursed),
            maturity_date: Some(matures),
            outstanding_principal: pilots::sek(kronor),
            ..Default::default()
        };
        let event = ap::LoanTagged { application: application.into(), loan: Some(loan), ..Default::default() };
        self.publish("applications", application, &event).await;
    }

    async fn loan_changed(&self, application: &str, loan_id: &str, change: ap::LoanChange, kronor: i64, on: Date) {
        let loan = ap::LoanTag {
            loan_id: loan_id.into(),
            outstanding_principal: pilots::sek(kronor),
            state_date: Some(on),
            disbursement_date: Some(date(2025, 1, 15)),
            ..Default::default()
        };
        let event = ap::LoanUpdated {
            application: application.into(),
            loan: Some(loan),
            change: change as i32,
            ..Default::default()
        };
        self.publish("applications", application, &event).await;
    }

    /// Waits until the pool today holds `kronor` in `loans` loans.
    async fn pool_is(&self, kronor: i64, loans: i32, on: Date) -> pb::Headroom {
        let mut last = None;
        for _ in 0..200 {
            let headroom = headroom(&mut self.client.clone(), Some(on), None).await;
            if headroom.pool == sek(kronor) && headroom.loan_count == loans {
                return headroom;
            }
            last = Some(headroom);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the pool did not reach {kronor} kr in {loans} loans: {last:?}");
    }

    async fn bonds_events(&self) -> Vec<String> {
        let pool = sqlx::PgPool::connect(&self.db.service_url("bonds")).await.unwrap();
        let types: Vec<String> =
            sqlx::query_scalar("SELECT event_type FROM bonds.outbox ORDER BY recorded").fetch_all(&pool).await.unwrap();
        pool.close().await;
        types.into_iter().map(|t| t.rsplit('.').next().unwrap_or_default().to_owned()).collect()
    }
}

fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

/// Kronor in öre (minor units).
const fn kr(kronor: i64) -> i64 {
    kronor * 100
}

fn sek(kronor: i64) -> Option<Money> {
    pilots::sek(kronor)
}

fn treasury<T>(message: T) -> tonic::Request<T> {
    staff_as("treasury-karin", message, Role::Treasury)
}

async fn headroom(client: &mut Client, as_of: Option<Date>, known_at: Option<prost_types::Timestamp>) -> pb::Headroom {
    let request = pb::GetHeadroomRequest { as_of, known_at };
    client.get_headroom(staff(request, Role::Analyst)).await.unwrap().into_inner().headroom.unwrap()
}

fn bond(isin: &str, currency: &str, minor_units: i64, rate: &str, issued: Date) -> pb::Bond {
    pb::Bond {
        isin: isin.into(),
        display_name: format!("Social Bond {isin}"),
        nominal: Some(Money { currency_code: currency.into(), minor_units }),
        issue_date: Some(issued),
        maturity_date: Some(date(2031, 9, 1)),
        exchange_rate: rate.into(),
        ..Default::default()
    }
}

fn issue(bond: pb::Bond, override_reason: &str) -> pb::IssueBondRequest {
    pb::IssueBondRequest { request_id: rid(), bond: Some(bond), override_reason: override_reason.into() }
}

fn metadata(status: &tonic::Status, key: &str) -> String {
    use tonic_types::StatusExt;
    status.get_error_details().error_info().and_then(|i| i.metadata.get(key).cloned()).unwrap_or_default()
}

const SEK_BOND: &str = "SE0017160872";
const EUR_BOND: &str = "XS2191351126";

#[tokio::test]
async fn a_bond_is_issued_only_against_the_pool_and_an_override_takes_a_second_treasury_officer() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    suite.approve_pilots().await;
    suite.tag(BOTKYRKA, "BB-1", 400_000_000, date(2025, 1, 15), date(2035, 1, 15)).await;
    suite.tag(EIDAR, "EI-1", 50_000_000, date(2026, 3, 1), date(2036, 3, 1)).await;
    let today = suite.pool_is(450_000_000, 2, date(2026, 6, 30)).await;
    assert_eq!((today.headroom, today.bonds_outstanding), (sek(450_000_000), sek(0)));

    // A SEK bond of 300 MSEK fits; the headroom after it is shown.
    let first = issue(bond(SEK_BOND, "SEK", kr(300_000_000), "", date(2026, 4, 1)), "");
    let issued = client.issue_bond(treasury(first.clone())).await.unwrap().into_inner();
    let shown = issued.bond.unwrap();
    assert_eq!(shown.state, pb::BondState::Outstanding as i32);
    assert_eq!(issued.headroom.as_ref().unwrap().headroom, sek(150_000_000));
    // The same request again answers the same; another bond under its id is refused.
    let again = client.issue_bond(treasury(first.clone())).await.unwrap().into_inner();
    assert_eq!(again.bond.unwrap().create_time, shown.create_time);
    let reused = pb::IssueBondRequest { bond: Some(bond(EUR_BOND, "SEK", 1, "", date(2026, 4, 1))), ..first };
    assert_eq!(reason(&client.issue_bond(treasury(reused)).await.unwrap_err()), "REQUEST_ID_REUSED");
    let twice = issue(bond(SEK_BOND, "SEK", 1, "", date(2026, 4, 1)), "");
    let err = client.issue_bond(treasury(twice)).await.unwrap_err();
    assert_eq!((err.code(), reason(&err)), (Code::AlreadyExists, "BOND_EXISTS".into()));

    // A EUR bond of 20 M at 11.4523 counts 229.046 MSEK: it would exceed the pool.
    let euro = bond(EUR_BOND, "EUR", kr(20_000_000), "11.4523", date(2026, 5, 1));
    let err = client.issue_bond(treasury(issue(euro.clone(), ""))).await.unwrap_err();
    assert_eq!((err.code(), reason(&err)), (Code::FailedPrecondition, "POOL_EXCEEDED".into()));
    assert_eq!(metadata(&err, "headroom"), (-kr(79_046_000)).to_string());
    assert!(
        client.get_bond(staff(pb::GetBondRequest { name: format!("bonds/{EUR_BOND}") }, Role::Auditor)).await.is_err()
    );

    // With a reason it waits for a second treasury officer, and counts for nothing meanwhile.
    let pending = client.issue_bond(treasury(issue(euro, "Bridge until the Q3 disbursements"))).await.unwrap();
    let pending = pending.into_inner().bond.unwrap();
    assert_eq!(pending.state, pb::BondState::PendingOverride as i32);
    assert_eq!(headroom(client, Some(date(2026, 6, 30)), None).await.bonds_outstanding, sek(300_000_000));
    let approve = pb::ApproveBondOverrideRequest { request_id: rid(), name: pending.name.clone() };
    let err = client.approve_bond_override(treasury(approve.clone())).await.unwrap_err();
    assert_eq!((err.code(), reason(&err)), (Code::PermissionDenied, "SAME_PERSON".into()));
    let analyst = client.approve_bond_override(staff(approve.clone(), Role::Analyst)).await.unwrap_err();
    assert_eq!(analyst.code(), Code::PermissionDenied);
    let other = pb::ApproveBondOverrideRequest { request_id: rid(), ..approve };
    let approved = client.approve_bond_override(staff_as("treasury-olof", other, Role::Treasury)).await.unwrap();
    let approved = approved.into_inner().bond.unwrap();
    assert_eq!(approved.state, pb::BondState::Outstanding as i32);
    assert_eq!(approved.r#override.unwrap().decided_by.unwrap().subject, "treasury-olof");
    let after = headroom(client, Some(date(2026, 6, 30)), None).await;
    assert_eq!(after.headroom, sek(-79_046_000));
    let events = suite.bonds_events().await;
    assert!(
        events.contains(&"BondOverrideRequested".to_owned()) && events.contains(&"HeadroomLow".to_owned()),
        "{events:?}"
    );
    redeem_and_reject(&suite, client).await;
    suite.stop().await;
}

/// Half the EUR bond bought back; an override rejected.
async fn redeem_and_reject(suite: &Suite, client: &mut Client) {
    let redemption =
        |kind: pb::RedemptionKind, currency: &str, minor_units: i64, on: Date| pb::RecordRedemptionRequest {
            request_id: rid(),
            name: format!("bonds/{EUR_BOND}"),
            redemption: Some(pb::BondRedemption {
                kind: kind as i32,
                nominal: Some(Money { currency_code: currency.into(), minor_units }),
                date: Some(on),
                ..Default::default()
            }),
        };
    let wrong = [
        (
            redemption(pb::RedemptionKind::BuyBack, "SEK", kr(10_000_000), date(2026, 9, 1)),
            "redemption.nominal.currency_code",
        ),
        (
            redemption(pb::RedemptionKind::BuyBack, "EUR", kr(20_000_000) + 1, date(2026, 9, 1)),
            "redemption.nominal.minor_units",
        ),
        (redemption(pb::RedemptionKind::BuyBack, "EUR", 1, date(2026, 4, 30)), "redemption.date"),
        (redemption(pb::RedemptionKind::EarlyRedemption, "EUR", 1, date(2026, 9, 1)), "redemption.nominal.minor_units"),
        (redemption(pb::RedemptionKind::Unspecified, "EUR", 1, date(2026, 9, 1)), "redemption.kind"),
    ];
    for (request, field) in wrong {
        assert_eq!(violations(&client.record_redemption(treasury(request)).await.unwrap_err()), [field]);
    }
    // Half of it bought back in September: 114.523 MSEK of it counts from then.
    let bought = redemption(pb::RedemptionKind::BuyBack, "EUR", kr(10_000_000), date(2026, 9, 1));
    let halved = client.record_redemption(treasury(bought)).await.unwrap().into_inner().bond.unwrap();
    assert_eq!((minor(&halved.outstanding_nominal), minor(&halved.outstanding_sek)), (kr(10_000_000), kr(114_523_000)));
    assert_eq!(headroom(client, Some(date(2026, 8, 31)), None).await.headroom, sek(-79_046_000), "not before");
    assert_eq!(headroom(client, Some(date(2026, 9, 1)), None).await.headroom, sek(35_477_000));
    let events = suite.bonds_events().await;
    assert_eq!(events.last().map(String::as_str), Some("HeadroomRestored"), "{events:?}");

    // An override can be rejected too, by another officer, with a reason; the bond never counts.
    let third = bond("SE0023456785", "SEK", kr(1_000_000_000), "", date(2026, 4, 1));
    client.issue_bond(treasury(issue(third, "Planned"))).await.unwrap();
    let reject =
        pb::RejectBondOverrideRequest { request_id: rid(), name: "bonds/SE0023456785".into(), reason: String::new() };
    assert_eq!(violations(&client.reject_bond_override(treasury(reject.clone())).await.unwrap_err()), ["reason"]);
    let reject = pb::RejectBondOverrideRequest { reason: "Not yet".into(), ..reject };
    let rejected = client.reject_bond_override(staff_as("treasury-olof", reject, Role::Treasury)).await.unwrap();
    assert_eq!(rejected.into_inner().bond.unwrap().state, pb::BondState::Rejected as i32);
    assert_eq!(headroom(client, Some(date(2026, 9, 1)), None).await.headroom, sek(35_477_000));
}

#[tokio::test]
async fn bad_bonds_wrong_roles_and_concurrent_issues_are_refused_and_never_break_the_pool() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    suite.approve_pilots().await;
    suite.tag(BOTKYRKA, "BB-1", 100_000_000, date(2025, 1, 15), date(2035, 1, 15)).await;
    suite.pool_is(100_000_000, 1, date(2026, 6, 30)).await;

    let mut bad = bond("SE0017160873", "GBP", i64::MAX, "NaN", date(2026, 4, 1));
    bad.maturity_date = Some(date(2026, 2, 30));
    let err = client.issue_bond(treasury(issue(bad, &"x".repeat(4001)))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&err),
        [
            "bond.isin",
            "bond.nominal.currency_code",
            "bond.nominal.minor_units",
            "bond.exchange_rate",
            "bond.maturity_date",
            "override_reason"
        ]
    );
    let euro_without_rate = bond(EUR_BOND, "EUR", 1, "", date(2026, 4, 1));
    assert_eq!(
        violations(&client.issue_bond(treasury(issue(euro_without_rate, ""))).await.unwrap_err()),
        ["bond.exchange_rate"]
    );
    let borrower = client
        .issue_bond(as_borrower(pilots::BOTKYRKABYGGEN, issue(bond(SEK_BOND, "SEK", 1, "", date(2026, 4, 1)), "")));
    assert_eq!(borrower.await.unwrap_err().code(), Code::PermissionDenied);
    let read = client.get_headroom(as_borrower(pilots::BOTKYRKABYGGEN, pb::GetHeadroomRequest::default())).await;
    assert_eq!(read.unwrap_err().code(), Code::PermissionDenied, "borrowers read nothing here");
    let future = pb::GetHeadroomRequest {
        known_at: Some(prost_types::Timestamp { seconds: 4_102_444_800, nanos: 0 }),
        ..Default::default()
    };
    assert_eq!(violations(&client.get_headroom(staff(future, Role::Auditor)).await.unwrap_err()), ["known_at"]);

    // Eight officers at once each issue 20 MSEK against 100 MSEK: five fit, three are refused.
    let isins = ["SE0023456785", "SE0017160872", "US0378331005", "SE0000108656", "GB0002634946", "XS2191351126"];
    let mut more: Vec<String> = isins.iter().map(|s| s.to_string()).collect();
    more.extend(["DE0005557508".to_owned(), "FR0000131104".to_owned()]);
    let mut calls = Vec::new();
    for (i, isin) in more.iter().enumerate() {
        let mut client = client.clone();
        let request = issue(bond(isin, "SEK", kr(20_000_000), "", date(2026, 4, 1)), "");
        calls.push(tokio::spawn(async move {
            client.issue_bond(staff_as(&format!("treasury-{i}"), request, Role::Treasury)).await
        }));
    }
    let mut issued = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => issued += 1,
            Err(err) => assert_eq!(reason(&err), "POOL_EXCEEDED"),
        }
    }
    assert_eq!(issued, 5);
    // All five listed, two to a page, in the order recorded.
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListBondsRequest { page_size: 2, page_token: token };
        let page = client.list_bonds(staff(request, Role::Auditor)).await.unwrap().into_inner();
        listed.extend(page.bonds.into_iter().map(|b| b.isin));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(listed.len(), 5, "{listed:?}");
    let forged = pb::ListBondsRequest { page_token: "bm90IGEgdG9rZW4".into(), ..Default::default() };
    assert_eq!(violations(&client.list_bonds(staff(forged, Role::Auditor)).await.unwrap_err()), ["page_token"]);
    let after = headroom(client, Some(date(2026, 6, 30)), None).await;
    assert_eq!((after.pool, after.bonds_outstanding, after.headroom), (sek(100_000_000), sek(100_000_000), sek(0)));
    suite.stop().await;
}

#[tokio::test]
async fn the_pool_follows_each_loan_as_of_any_date_and_as_known_at_any_time() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    suite.approve_pilots().await;
    suite.tag(BOTKYRKA, "BB-1", 400_000_000, date(2025, 1, 15), date(2035, 1, 15)).await;
    suite.tag(BOTKYRKA, "BB-2", 100_000_000, date(2025, 1, 15), date(2027, 3, 1)).await;
    suite.tag(EIDAR, "EI-1", 50_000_000, date(2026, 3, 1), date(2036, 3, 1)).await;
    suite.pool_is(550_000_000, 3, date(2026, 6, 30)).await;
    let before = headroom(client, Some(date(2026, 6, 30)), None).await.known_at;
    // Before Eidar's disbursement, only Botkyrkabyggen's loans count.
    assert_eq!(headroom(client, Some(date(2026, 2, 1)), None).await.pool, sek(500_000_000));
    let issued = issue(bond(SEK_BOND, "SEK", kr(500_000_000), "", date(2026, 4, 1)), "");
    client.issue_bond(treasury(issued)).await.unwrap();

    // Amortised to 380 MSEK at the end of June; the pool is lower from then, not before.
    suite.loan_changed(BOTKYRKA, "BB-1", ap::LoanChange::Amortised, 380_000_000, date(2026, 6, 30)).await;
    suite.pool_is(530_000_000, 3, date(2026, 7, 1)).await;
    assert_eq!(headroom(client, Some(date(2026, 6, 29)), None).await.pool, sek(550_000_000));
    // Forecast: BB-2 matures on 2027-03-01; the pool is then 430 MSEK against 500.
    let forecast = client
        .forecast_headroom(staff(pb::ForecastHeadroomRequest { until: Some(date(2030, 1, 1)) }, Role::Treasury))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(forecast.first_shortfall_date, Some(date(2027, 3, 1)));
    let point = forecast.points.iter().find(|p| p.date == Some(date(2027, 3, 1))).expect("BB-2's maturity");
    assert_eq!(point.changes, ["loan BB-2 matures"]);
    assert_eq!(point.headroom.as_ref().unwrap().headroom, sek(-70_000_000));
    let far = pb::ForecastHeadroomRequest { until: Some(date(2099, 1, 1)) };
    assert_eq!(violations(&client.forecast_headroom(staff(far, Role::Treasury)).await.unwrap_err()), ["until"]);
    // Eidar's tag was a mistake: cancelled, it never counted.
    suite.loan_changed(EIDAR, "EI-1", ap::LoanChange::Cancelled, 0, date(2026, 9, 1)).await;
    suite.pool_is(380_000_000 + 100_000_000, 2, date(2026, 7, 1)).await;
    assert_eq!(headroom(client, Some(date(2026, 3, 15)), None).await.pool, sek(500_000_000));
    // What the register knew before, it still says when asked as known then.
    let then = headroom(client, Some(date(2026, 7, 1)), before).await;
    assert_eq!((then.pool, then.bonds_outstanding), (sek(550_000_000), sek(0)));
    // The bond now exceeds the pool: a warning, once.
    let events = suite.bonds_events().await;
    assert_eq!(events.iter().filter(|e| *e == "HeadroomLow").count(), 1, "{events:?}");
    let forecast = client.forecast_headroom(staff(pb::ForecastHeadroomRequest::default(), Role::Auditor)).await;
    let forecast = forecast.unwrap().into_inner();
    assert_eq!(forecast.first_shortfall_date, forecast.today.unwrap().as_of, "short today");

    // The label withdrawn from Botkyrkabyggen's loans on 2026-10-01 empties the pool from then.
    let withdrawal = ap::LabelWithdrawal { effective_date: Some(date(2026, 10, 1)), ..Default::default() };
    let withdrawn = ap::ApplicationLabelWithdrawn {
        application: BOTKYRKA.into(),
        label_withdrawal: Some(withdrawal),
        ..Default::default()
    };
    suite.publish("applications", BOTKYRKA, &withdrawn).await;
    suite.pool_is(0, 0, date(2026, 10, 1)).await;
    assert_eq!(headroom(client, Some(date(2026, 9, 30)), None).await.pool, sek(480_000_000));
    // A later amortisation of a withdrawn loan does not bring it back.
    suite.loan_changed(BOTKYRKA, "BB-1", ap::LoanChange::Amortised, 370_000_000, date(2026, 11, 1)).await;
    suite.tag(EIDAR, "EI-2", 10_000_000, date(2026, 11, 1), date(2036, 3, 1)).await;
    suite.pool_is(10_000_000, 1, date(2026, 11, 15)).await;
    suite.stop().await;
}

fn minor(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |m| m.minor_units)
}

#[tokio::test]
async fn the_reports_break_the_allocation_down_and_published_vintages_are_signed_frozen_and_restated_with_reasons() {
    let suite = Suite::start().await;
    let client = &mut suite.client.clone();
    suite.approve_pilots().await;
    suite.tag(BOTKYRKA, "BB-1", 400_000_000, date(2025, 1, 15), date(2035, 1, 15)).await;
    suite.tag(EIDAR, "EI-1", 100_000_000, date(2026, 5, 1), date(2036, 3, 1)).await;
    suite.pool_is(500_000_000, 2, date(2026, 6, 30)).await;
    client.issue_bond(treasury(issue(bond(SEK_BOND, "SEK", kr(250_000_000), "", date(2026, 4, 1)), ""))).await.unwrap();
    let accepted = mo::OutcomeReportAccepted {
        outcome_report: "monitoringPlans/p/outcomeReports/r".into(),
        application: BOTKYRKA.into(),
        period_end: Some(date(2026, 6, 30)),
        version: 1,
        indicator_values: vec![mo::IndicatorValue {
            indicator_code: "renovated_dwellings".into(),
            value: Some(380.0),
            unit: "count".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    suite.publish("monitoring", "monitoringPlans/p", &accepted).await;

    // Allocation as of 2026-06-30: 250 MSEK, all allocated; 4/5 Botkyrka (housing), 1/5 Eidar.
    let as_of = Some(date(2026, 6, 30));
    let get = pb::GetAllocationReportRequest { as_of, known_at: None };
    let report = client.get_allocation_report(staff(get, Role::Analyst)).await.unwrap().into_inner().report.unwrap();
    assert_eq!((minor(&report.allocated), minor(&report.unallocated)), (kr(250_000_000), 0));
    // Eidar's loan was disbursed after the bond's issue: new financing; Botkyrkabyggen's refinancing.
    assert_eq!((minor(&report.new_financing), minor(&report.refinancing)), (kr(50_000_000), kr(200_000_000)));
    let parts: Vec<(String, i64, f64)> =
        report.by_municipality.iter().map(|p| (p.label.clone(), minor(&p.amount), p.share_percent)).collect();
    assert_eq!(
        parts,
        [("Botkyrka".to_owned(), kr(200_000_000), 80.0), ("Trollhättan".to_owned(), kr(50_000_000), 20.0)]
    );
    assert_eq!(report.by_category.len(), 2);
    assert_eq!(report.bonds[0].isin, SEK_BOND);
    assert_eq!(report.loans.len(), 2);

    // The impact report: each project's share and the accepted outcome.
    let mut impact = pb::InvestorImpactReport::default();
    for _ in 0..200 {
        let get = pb::GetInvestorImpactReportRequest { as_of, known_at: None };
        impact =
            client.get_investor_impact_report(staff(get, Role::Auditor)).await.unwrap().into_inner().report.unwrap();
        if impact.projects.iter().any(|p| !p.indicators.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let botkyrka = impact.projects.iter().find(|p| p.application == BOTKYRKA).unwrap();
    assert_eq!((botkyrka.lender_share_percent, botkyrka.indicators[0].attributed_value), (20.0, 76.0));
    assert_eq!(impact.bond_share_percent, 50.0);
    assert!(!impact.by_population.is_empty());
    for (language, format, needle) in [
        (socialloans_contracts::common::Language::Swedish, pb::ExportFormat::Csv, "400 000 000 kr"),
        (socialloans_contracts::common::Language::English, pb::ExportFormat::Csv, "400000000.00"),
        (socialloans_contracts::common::Language::Swedish, pb::ExportFormat::Svg, "Investerarrapport"),
    ] {
        let export = pb::ExportInvestorImpactReportRequest {
            as_of,
            language: language as i32,
            format: format as i32,
            ..Default::default()
        };
        let file = client.export_investor_impact_report(staff(export, Role::Treasury)).await.unwrap().into_inner();
        assert!(String::from_utf8(file.content).unwrap().contains(needle), "{}", file.file_name);
    }
    let unformatted = pb::ExportInvestorImpactReportRequest { as_of, language: 99, ..Default::default() };
    let err = client.export_investor_impact_report(staff(unformatted, Role::Treasury)).await.unwrap_err();
    assert_eq!(violations(&err), ["format", "language"]);

    // Published: frozen, signed over its figures, verifiable with the public key.
    let publish = |reason: &str| pb::PublishReportRequest {
        request_id: rid(),
        kind: pb::ReportKind::Allocation as i32,
        as_of,
        restatement_reason: reason.into(),
    };
    let first = client.publish_report(treasury(publish(""))).await.unwrap().into_inner().vintage.unwrap();
    assert_eq!(first.name, "reports/allocation/2026-06-30/vintages/1");
    let text: String = first.figures.iter().map(|f| format!("{}={}\n", f.key, f.value)).collect();
    let digest: String =
        <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(first.digest, digest);
    let signature = first.signature.clone().unwrap();
    assert!(signature.signed_message.contains(&digest));
    assert!(socialloans_platform::signing::verify(
        &signature.public_key,
        &signature.signed_message,
        &signature.signature
    ));
    let forged = signature.signed_message.replace(&digest, &"0".repeat(64));
    assert!(!socialloans_platform::signing::verify(&signature.public_key, &forged, &signature.signature));
    // Reproducible: the report as known when it was published gives the same figures.
    let again = pb::GetAllocationReportRequest { as_of, known_at: first.known_at };
    let again = client.get_allocation_report(staff(again, Role::Auditor)).await.unwrap().into_inner().report.unwrap();
    assert_eq!(Some(again), first.allocation);

    // Publishing again restates, with a reason, and only when a figure changed.
    let err = client.publish_report(treasury(publish(""))).await.unwrap_err();
    assert_eq!(violations(&err), ["restatement_reason"]);
    let err = client.publish_report(treasury(publish("Rerun"))).await.unwrap_err();
    assert_eq!(reason(&err), "NOTHING_RESTATED");
    // Core banking reports late an amortisation back in June: the report restated explains it.
    suite.loan_changed(BOTKYRKA, "BB-1", ap::LoanChange::Amortised, 300_000_000, date(2026, 6, 1)).await;
    suite.pool_is(400_000_000, 2, date(2026, 6, 30)).await;
    let second = client.publish_report(treasury(publish("Late amortisation of BB-1"))).await.unwrap().into_inner();
    let second = second.vintage.unwrap();
    assert_eq!((second.vintage, second.restatement_reason.as_str()), (2, "Late amortisation of BB-1"));
    let pool = second.changes.iter().find(|c| c.key == "total/pool").expect("the pool changed");
    assert_eq!((pool.previous.as_str(), pool.current.as_str()), ("50000000000", "40000000000"));
    assert!(
        pool.explanations[0].starts_with("loan BB-1 amortised: lowers the pool by SEK 100,000,000 from 2026-06-01"),
        "{pool:?}"
    );
    assert!(second.changes.iter().all(|c| !c.explanations.is_empty()));
    let get = pb::GetReportVintageRequest { name: first.name.clone() };
    let kept = client.get_report_vintage(staff(get, Role::Auditor)).await.unwrap().into_inner().vintage.unwrap();
    assert_eq!((kept.digest, kept.figures), (first.digest.clone(), first.figures.clone()), "the first vintage stands");
    let list = pb::ListReportVintagesRequest { page_size: 1, ..Default::default() };
    let page = client.list_report_vintages(staff(list.clone(), Role::Analyst)).await.unwrap().into_inner();
    assert_eq!(page.vintages[0].name, second.name);
    let next = pb::ListReportVintagesRequest { page_token: page.next_page_token, ..list };
    let page = client.list_report_vintages(staff(next, Role::Analyst)).await.unwrap().into_inner();
    assert_eq!((page.vintages[0].name.as_str(), page.next_page_token.as_str()), (first.name.as_str(), ""));
    let future = pb::PublishReportRequest { as_of: Some(date(2099, 12, 31)), ..publish("") };
    assert_eq!(violations(&client.publish_report(treasury(future)).await.unwrap_err()), ["as_of"]);

    // The service's own credential can add to the history but not rewrite it:
    // the grants keep the appended tables, triggers the bonds' terms and the loans.
    let own = sqlx::PgPool::connect(&suite.db.service_url("bonds")).await.unwrap();
    for (statement, refusal) in [
        ("UPDATE bonds.report_vintage SET digest = 'forged'", "permission denied"),
        ("DELETE FROM bonds.report_vintage", "permission denied"),
        ("UPDATE bonds.pool_movement SET delta = delta * 2", "permission denied"),
        ("DELETE FROM bonds.bond_redemption", "permission denied"),
        ("TRUNCATE bonds.accepted_indicator", "permission denied"),
        ("UPDATE bonds.bond SET nominal = nominal / 2", "its terms are not changed"),
        ("UPDATE bonds.bond SET state = 'PENDING_OVERRIDE', register_time = NULL", "cannot become"),
        ("DELETE FROM bonds.bond", "is not deleted"),
        ("UPDATE bonds.loan SET maturity_date = '2099-01-01'", "is not changed or deleted"),
        ("DELETE FROM bonds.loan", "is not changed or deleted"),
    ] {
        let done = sqlx::query(statement).execute(&own).await;
        let err = done.map(|r| r.rows_affected()).expect_err(statement);
        assert!(err.to_string().contains(refusal), "{statement}: {err}");
    }
    own.close().await;
    suite.stop().await;
}

#[tokio::test]
async fn treasury_reads_the_loans_and_the_portfolio_report_and_nothing_it_does_not_need() {
    use socialloans_contracts::applications::applications_service_client::ApplicationsServiceClient;
    use socialloans_contracts::committee::{ListMembersRequest, committee_service_client::CommitteeServiceClient};
    use socialloans_contracts::monitoring::monitoring_service_client::MonitoringServiceClient;
    let db = Db::prepared(&specs()).await;
    let (running, endpoints) = start_all(&db).await;
    let mut apps = ApplicationsServiceClient::connect(endpoints.applications.clone()).await.unwrap();
    let loans = apps.list_loans(treasury(ap::ListLoansRequest::default())).await;
    assert!(loans.is_ok(), "treasury lists the loans: {loans:?}");
    let application = apps.list_applications(treasury(ap::ListApplicationsRequest::default())).await;
    assert_eq!(application.unwrap_err().code(), Code::PermissionDenied, "not the applications' personal data");
    let mut monitoring = MonitoringServiceClient::connect(endpoints.monitoring.clone()).await.unwrap();
    let report = mo::GetPortfolioImpactReportRequest::default();
    assert!(monitoring.get_portfolio_impact_report(treasury(report)).await.is_ok());
    let mut committee = CommitteeServiceClient::connect(endpoints.committee.clone()).await.unwrap();
    let members = committee.list_members(treasury(ListMembersRequest::default())).await;
    assert_eq!(members.unwrap_err().code(), Code::PermissionDenied);
    for service in running {
        service.stop().await.unwrap();
    }
}

#[tokio::test]
async fn the_sweep_notices_a_headroom_that_fell_without_an_event() {
    let db = Db::prepared(&specs()).await;
    let bonds = db.serve(e2e::services()[4], &[("BOND_SWEEP_SECONDS", "1")]).await;
    let mut client = BondsServiceClient::new(e2e::channel(bonds.grpc_addr).await);
    let own = sqlx::PgPool::connect(&db.service_url("bonds")).await.unwrap();
    let record = |delta: i64| {
        sqlx::query(
            "INSERT INTO bonds.pool_movement (loan_id, effective_date, delta, reason, cause)
             VALUES ('L-1', '2025-01-15', $1, 'CORRECTED', 'test')",
        )
        .bind(kr(delta))
    };
    sqlx::query(
        "INSERT INTO bonds.loan (loan_id, application, disbursement_date, maturity_date, principal)
         VALUES ('L-1', 'applications/x', '2025-01-15', '2035-01-15', 10000000000)",
    )
    .execute(&own)
    .await
    .unwrap();
    record(100_000_000).execute(&own).await.unwrap();
    client.issue_bond(treasury(issue(bond(SEK_BOND, "SEK", kr(90_000_000), "", date(2025, 2, 1)), ""))).await.unwrap();
    // The pool falls with nothing to tell the register: the next sweep sees it.
    record(-20_000_000).execute(&own).await.unwrap();
    let mut cause = String::new();
    for _ in 0..100 {
        let found: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT payload FROM bonds.outbox WHERE event_type = 'socialloans.bonds.v1.HeadroomLow'",
        )
        .fetch_optional(&own)
        .await
        .unwrap();
        if let Some(bytes) = found {
            cause = <pb::HeadroomLow as prost::Message>::decode(bytes.as_slice()).unwrap().cause;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cause.starts_with("time"), "the sweep raised it: {cause:?}");
    own.close().await;
    bonds.stop().await.unwrap();
}
