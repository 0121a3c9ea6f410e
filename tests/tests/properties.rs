//! Generated input against every validator, the page-token decoder, the
//! resource-name parsers and the event decoders: none may panic, and each
//! either accepts or answers one of its documented errors — a field
//! violation naming a field that exists in the contract.
//!
//! Each property runs 10,000 cases (what CI runs); set `PROPTEST_CASES` for
//! more, e.g. `PROPTEST_CASES=1000000 cargo nextest run -p e2e --test
//! properties --release` (see the README).

use proptest::{collection::vec, option, prelude::*, test_runner::Config};
use socialloans_contracts::common;
use socialloans_contracts::{applications as ap, field_path_exists, monitoring as mo};
use socialloans_platform::{
    error::FieldViolation,
    events::{Event, HandlerError, decode},
    limits, pagination,
};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Text as clients send it: mostly short, any Unicode, control characters
/// and NUL included, now and then very long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => any::<String>(),
        6 => "[a-zA-Z0-9 ._@+-]{0,30}",
        3 => "[\\x00-\\x1f]{0,5}",
        1 => (any::<char>(), 9_990usize..10_010).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

/// A list: mostly a few items, once in forty about as many as its cap allows
/// (`cap`), just under or just over it.
fn list<S: Strategy + 'static>(item: S, cap: usize) -> impl Strategy<Value = Vec<S::Value>> {
    let item = item.boxed();
    prop_oneof![40 => vec(item.clone(), 0..4), 1 => vec(item, cap - 2..cap + 3)]
}

fn int() -> impl Strategy<Value = i32> {
    prop_oneof![4 => -3i32..40, 1 => any::<i32>()]
}

fn long() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -10i64..1_000_000, 1 => any::<i64>()]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![4 => -1e6f64..1e6, 1 => any::<f64>(), 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)]
}

fn ap_date() -> impl Strategy<Value = Option<common::Date>> {
    option::of(
        (prop_oneof![3 => 1890i32..2300, 1 => any::<i32>()], int(), int())
            .prop_map(|(year, month, day)| common::Date { year, month, day }),
    )
}

fn mo_date() -> impl Strategy<Value = Option<common::Date>> {
    ap_date().prop_map(|d| d.map(|d| common::Date { year: d.year, month: d.month, day: d.day }))
}

fn money() -> impl Strategy<Value = Option<common::Money>> {
    option::of(
        (prop_oneof!["SEK", text()], long())
            .prop_map(|(currency_code, minor_units)| common::Money { currency_code, minor_units }),
    )
}

fn application() -> impl Strategy<Value = ap::Application> {
    let borrower = (prop_oneof!["556[0-9]{3}-[0-9]{4}", text()], text(), int()).prop_map(
        |(organization_number, display_name, r#type)| ap::Borrower { organization_number, display_name, r#type },
    );
    let investment = (text(), money(), money(), text(), "[0-9]{0,5}", ap_date(), ap_date(), vec(ap_date(), 0..3))
        .prop_map(|(description, total_amount, spent_amount, district, municipality_code, start, end, milestones)| {
            ap::Investment {
                description,
                total_amount,
                spent_amount,
                district,
                municipality_code,
                schedule: Some(ap::InvestmentSchedule {
                    start_date: start,
                    completion_date: end,
                    milestones: milestones
                        .into_iter()
                        .map(|date| ap::Milestone { date, description: "m".into() })
                        .collect(),
                }),
                ..Default::default()
            }
        });
    let group = (int(), text(), long()).prop_map(|(population, description, estimated_size)| common::TargetGroup {
        population,
        description,
        estimated_size,
        ..Default::default()
    });
    let objective =
        (text(), text()).prop_map(|(key, description)| ap::Objective { key, description, ..Default::default() });
    let indicator = (text(), text(), int(), int(), number(), ap_date(), number(), ap_date()).prop_map(
        |(code, objective_key, direction, level, baseline, baseline_date, target, target_date)| ap::Indicator {
            code,
            objective_key,
            direction,
            level,
            baseline: Some(common::IndicatorBaseline { value: baseline, date: baseline_date, source: "s".into() }),
            target: Some(common::IndicatorTarget { value: target, date: target_date }),
            ..Default::default()
        },
    );
    let attachment =
        (text(), text(), long(), text(), text()).prop_map(|(name, media_type, size_bytes, sha256, uri)| {
            common::Attachment { name, media_type, size_bytes, sha256, uri, ..Default::default() }
        });
    let contact = (text(), text(), text()).prop_map(|(name, email, phone)| ap::ContactPerson {
        name,
        email,
        phone,
        ..Default::default()
    });
    (
        option::of(borrower),
        (int(), text(), option::of(investment), text()),
        list(group, 50),
        list(objective, 50),
        list(indicator, 50),
        list(prop_oneof!["[0-9]{1,2}\\.[0-9a-z]{1,2}", text()], 50),
        (money(), option::of(contact), list(attachment, 50)),
    )
        .prop_map(
            |(
                borrower,
                (category, title, investment, social_challenge),
                target_groups,
                objectives,
                indicators,
                sdg_targets,
                (requested_amount, contact_person, attachments),
            )| ap::Application {
                borrower,
                category,
                title,
                investment,
                social_challenge,
                target_groups,
                objectives,
                indicators,
                sdg_targets,
                requested_amount,
                contact_person,
                attachments,
                ..Default::default()
            },
        )
}

/// Every violation names a field of `message` (after `prefix`).
fn names_real_fields(violations: &[FieldViolation], message: &str, prefix: &str) -> Result<(), TestCaseError> {
    for v in violations {
        let path = v.field.strip_prefix(prefix).unwrap_or(&v.field);
        prop_assert!(field_path_exists(message, path), "{:?} is no field of {message}", v.field);
        prop_assert!(!v.description.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn an_application_is_accepted_or_refused_by_fields_it_has(app in application()) {
        let shape = applications::validate::content(&app, "application.");
        names_real_fields(&shape, "socialloans.applications.v1.Application", "application.")?;
        // What must be refused is refused, by name.
        let names = |field: &str| shape.iter().any(|v| v.field == field);
        if limits::has_control(&app.title) || app.title.chars().count() > 200 {
            prop_assert!(names("application.title"), "{:?}", app.title);
        }
        if app.target_groups.len() > 50 {
            prop_assert!(names("application.target_groups"));
        } else {
            for (i, g) in app.target_groups.iter().enumerate() {
                if !(0..=100_000_000).contains(&g.estimated_size) {
                    let field = format!("application.target_groups[{i}].estimated_size");
                    prop_assert!(names(&field), "{field}");
                }
            }
        }
        if app.indicators.len() <= 50 {
            for (i, ind) in app.indicators.iter().enumerate() {
                let value = ind.baseline.as_ref().map_or(0.0, |b| b.value);
                if !value.is_finite() || value.abs() > 1e12 {
                    let field = format!("application.indicators[{i}].baseline.value");
                    prop_assert!(names(&field), "{field}");
                }
            }
        }
        let missing = applications::validate::completeness(&app);
        names_real_fields(&missing, "socialloans.applications.v1.Application", "application.")?;
    }

    #[test]
    fn a_loan_tag_is_accepted_or_refused_by_fields_it_has(
        loan_id in text(), principal in money(), disbursed in ap_date(), matures in ap_date()
    ) {
        let loan = ap::LoanTag { loan_id, principal, disbursement_date: disbursed, maturity_date: matures, ..Default::default() };
        let request = ap::TagLoanRequest { loan: Some(loan), ..Default::default() };
        let loan = request.loan.as_ref().unwrap();
        let day = |d: &Option<common::Date>| d.as_ref().and_then(|d| limits::date(d.year, d.month, d.day, limits::YEARS));
        let money_ok = loan.principal.as_ref().is_some_and(|m| {
            m.currency_code == "SEK" && m.minor_units > 0 && m.minor_units <= 10_000_000_000_000
        });
        let should_pass = !loan.loan_id.trim().is_empty()
            && !limits::unfit(&loan.loan_id, 64)
            && money_ok
            && matches!((day(&loan.disbursement_date), day(&loan.maturity_date)), (Some(a), Some(b)) if b > a);
        match applications::edit::loan(&request) {
            Ok(_) => prop_assert!(should_pass, "accepted {:?}", loan),
            Err(err) => {
                prop_assert!(!should_pass, "refused {:?}", loan);
                prop_assert_eq!(tonic::Status::from(err).code(), tonic::Code::InvalidArgument);
            }
        }
    }

    #[test]
    fn an_outcome_report_is_accepted_or_refused_by_fields_it_has(
        values in list((text(), option::of(number()), mo_date(), text(), text(), text()), 100),
        reach in list((int(), long(), text()), 100),
        narrative in text(),
        evidence in list((text(), text(), long(), text(), text()), 100),
        deviations in list((text(), text(), text()), 100),
        used in option::of((text(), long())),
    ) {
        let report = mo::OutcomeReport {
            indicator_values: values.into_iter().map(|(indicator_code, value, measure_date, method, comment, unit)| {
                mo::IndicatorValue { indicator_code, value, measure_date, method, comment, unit, ..Default::default() }
            }).collect(),
            target_group_reach: reach.into_iter().map(|(population, people_reached, description)| {
                mo::TargetGroupReach { population, people_reached, description }
            }).collect(),
            narrative,
            evidence: evidence.into_iter().map(|(name, media_type, size_bytes, sha256, uri)| {
                common::Attachment { name, media_type, size_bytes, sha256, uri, ..Default::default() }
            }).collect(),
            deviations: deviations.into_iter().map(|(indicator_code, description, cause)| {
                mo::Deviation { indicator_code, description, cause }
            }).collect(),
            loan_amount_used: used.map(|(currency_code, minor_units)| common::Money { currency_code, minor_units }),
            ..Default::default()
        };
        let plan = mo::MonitoringPlan {
            indicators: vec![mo::PlanIndicator { code: "jobs_created".into(), unit: "jobs".into(), ..Default::default() }],
            tagged_loan_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: 1_000_000 }),
            ..Default::default()
        };
        let violations = monitoring::reports::check(&report, &plan, "outcome_report.");
        names_real_fields(&violations, "socialloans.monitoring.v1.OutcomeReport", "outcome_report.")?;
        let names = |field: &str| violations.iter().any(|v| v.field == field);
        if limits::has_control(&report.narrative) || report.narrative.chars().count() > 20_000 {
            prop_assert!(names("outcome_report.narrative"));
        }
        if report.indicator_values.len() > 100 {
            prop_assert!(names("outcome_report.indicator_values"));
        } else {
            for (i, v) in report.indicator_values.iter().enumerate() {
                if v.value.is_some_and(|x| !x.is_finite() || x.abs() > 1e12) {
                    let field = format!("outcome_report.indicator_values[{i}].value");
                    prop_assert!(names(&field), "{field}");
                }
            }
        }
        let _ = monitoring::reports::check_size(&report);
    }

    #[test]
    fn a_reporting_schedule_is_accepted_or_refused_by_name(
        frequency in int(), first in mo_date(), due_days in int(), maturity in mo_date()
    ) {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let schedule = mo::ReportingSchedule { frequency, first_period_end: first, due_days };
        let first_day = first.as_ref().and_then(|d| limits::date(d.year, d.month, d.day, limits::YEARS));
        let shape_ok = (0..=3).contains(&frequency)
            && (0..=365).contains(&due_days)
            && (first.is_none() || first_day.is_some_and(|d| d >= today));
        match monitoring::plans::check_schedule(schedule, today) {
            Err(_) => prop_assert!(!shape_ok, "refused {} {:?} {}", frequency, first, due_days),
            Ok(schedule) => {
                prop_assert!(shape_ok, "accepted {} {:?} {}", frequency, first, due_days);
                let plan = mo::MonitoringPlan { last_maturity_date: maturity, ..Default::default() };
                let months = monitoring::plans::interval_months(&schedule);
                let until = maturity
                    .as_ref()
                    .and_then(monitoring::plans::naive)
                    .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(2030, 12, 31).unwrap());
                let latest = today.checked_add_months(chrono::Months::new(months)).unwrap();
                let within = first_day.is_none_or(|d| d <= latest && d <= until);
                let checked = monitoring::plans::check_first_period(&schedule, &plan, today);
                prop_assert_eq!(checked.is_ok(), within, "{:?} until {} latest {}", first_day, until, latest);
                let end = first_day.unwrap_or_else(|| monitoring::plans::default_first_end(today, months, until));
                if within {
                    prop_assert!(end <= latest.max(today) && (end <= until || until < today));
                }
            }
        }
    }

    #[test]
    fn a_page_token_decodes_to_a_position_of_its_query_or_is_refused_by_name(
        token in prop_oneof![text(), "[A-Za-z0-9_-]{0,80}"], query in text(),
        micros in any::<i64>(), key in text()
    ) {
        for decoded in [
            pagination::decode_position::<uuid::Uuid>(&query, &token).map(|_| ()),
            pagination::decode_token(&query, &token).map(|_| ()),
        ] {
            if let Err(v) = decoded {
                prop_assert_eq!(v.field, "page_token");
            }
        }
        // A token this service made decodes to a time PostgreSQL can hold, or is refused.
        let crafted = pagination::encode_token(&query, &format!("{micros}|{key}"));
        match pagination::decode_position::<String>(&query, &crafted) {
            Ok(Some((time, _))) => prop_assert!(limits::time(&socialloans_platform::timestamp(time)).is_some()),
            Ok(None) => prop_assert!(false, "a token is never the first page"),
            Err(v) => prop_assert_eq!(v.field, "page_token"),
        }
    }

    #[test]
    fn times_and_dates_are_in_range_or_refused(seconds in any::<i64>(), nanos in any::<i32>(), y in any::<i32>(), m in any::<i32>(), d in any::<i32>()) {
        if let Some(time) = limits::time(&prost_types::Timestamp { seconds, nanos }) {
            let year = chrono::Datelike::year(&time);
            prop_assert!((1..=9999).contains(&year));
        }
        if let Some(day) = limits::date(y, m, d, limits::YEARS) {
            prop_assert!(limits::YEARS.contains(&chrono::Datelike::year(&day)));
        }
        let _ = socialloans_platform::stockholm_date(chrono::DateTime::from_timestamp(seconds % 8_000_000_000_000, 0).unwrap_or_default());
    }

    #[test]
    fn resource_names_parse_to_ids_or_are_refused_by_name(name in prop_oneof![
        text(),
        "(applications|cases|meetings|members|monitoringPlans)/[0-9a-f-]{0,40}(/(outcomeReports|decisions|conditions)/[0-9a-f-]{0,40})?",
    ]) {
        match applications::service::parse_name("name", &name) {
            Ok(_) => prop_assert!(name.starts_with("applications/")),
            Err(v) => prop_assert_eq!(v.field, "name"),
        }
        let statuses: [Result<(), tonic::Status>; 3] = [
            monitoring::report_api::parse_report(&name).map(|_| ()).map_err(Into::into),
            monitoring::report_api::parse_plan("name", &name).map(|_| ()).map_err(Into::into),
            committee::proceedings::parse("name", "cases/", &name).map(|_| ()).map_err(Into::into),
        ];
        for status in statuses.into_iter().filter_map(Result::err) {
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
        }
        let _ = field_path_exists("socialloans.applications.v1.Application", &name);
    }

    #[test]
    fn an_event_payload_decodes_or_is_rejected_never_a_panic(
        bytes in vec(any::<u8>(), 0..2_000), kind in 0usize..6
    ) {
        let event = Event {
            r#type: "t".into(),
            payload: Some(prost_types::Any { type_url: "type.googleapis.com/t".into(), value: bytes }),
            ..Default::default()
        };
        let rejected = |result: Result<(), HandlerError>| match result {
            Ok(()) | Err(HandlerError::Rejected(_)) => true,
            Err(HandlerError::Database(_)) => false,
        };
        let ok = match kind {
            0 => decode::<ap::ApplicationApproved>(&event).map(|e| {
                if let Some(app) = e.application {
                    let _ = committee::referrals::case_from(&app);
                }
            }),
            1 => decode::<ap::ApplicationReferredToCommittee>(&event).map(|e| {
                let _ = committee::referrals::case_from(&e.application.unwrap_or_default());
            }),
            2 => decode::<ap::LoanTagged>(&event).map(|_| ()),
            3 => decode::<socialloans_contracts::committee::DecisionConfirmed>(&event).map(|_| ()),
            4 => decode::<mo::ConditionFulfilled>(&event).map(|_| ()),
            _ => decode::<ap::ApplicationWithdrawn>(&event).map(|_| ()),
        };
        prop_assert!(rejected(ok));
        let empty = Event { payload: None, ..event };
        prop_assert!(matches!(decode::<ap::LoanTagged>(&empty), Err(HandlerError::Rejected(_))));
    }
}
