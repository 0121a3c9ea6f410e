//! The two pilot applications of the seed article — Botkyrkabyggen's
//! renovation of 380 homes in Fittja and Storvreten, and AB Eidar's move of its
//! head office to Granngården centre in Lextorp, Trollhättan — as complete
//! applications. Organisation numbers are made up (valid check digits).

use socialloans_contracts::applications::{
    Application, Borrower, ContactPerson, Indicator, Intervention, Investment, InvestmentSchedule, Objective,
    OrganizationType, RequirementStatements,
};
use socialloans_contracts::common::{
    Attachment, Category, Date, IndicatorDirection, IndicatorLevel, Money, TargetPopulation,
};
use socialloans_contracts::common::{IndicatorBaseline, IndicatorTarget, TargetGroup};

/// Botkyrkabyggen's organisation number (example).
pub const BOTKYRKABYGGEN: &str = "556111-1112";
/// AB Eidar's organisation number (example).
pub const EIDAR: &str = "556222-2223";

/// SEK in öre.
pub fn sek(kronor: i64) -> Option<Money> {
    Some(Money { currency_code: "SEK".into(), minor_units: kronor * 100 })
}

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// The pilots' one objective, which every indicator measures.
const OBJECTIVE: &str = "o1";

/// A municipal housing company (both pilots are one).
fn housing_company(organization_number: &str, display_name: &str) -> Option<Borrower> {
    Some(Borrower {
        organization_number: organization_number.into(),
        display_name: display_name.into(),
        r#type: OrganizationType::MunicipalHousingCompany as i32,
    })
}

/// When the investment starts and is completed.
fn schedule(start_date: Option<Date>, completion_date: Option<Date>) -> Option<InvestmentSchedule> {
    Some(InvestmentSchedule { start_date, completion_date, ..Default::default() })
}

/// A target group of `estimated_size` people, estimated from `size_basis`.
fn target_group(population: TargetPopulation, description: &str, estimated_size: i64, size_basis: &str) -> TargetGroup {
    TargetGroup {
        population: population as i32,
        description: description.into(),
        estimated_size,
        size_basis: size_basis.into(),
    }
}

fn intervention(title: &str, description: &str) -> Intervention {
    Intervention { title: title.into(), description: description.into(), ..Default::default() }
}

/// The pilot's objective ([`OBJECTIVE`]).
fn objective(description: &str, change_sought: &str) -> Objective {
    Objective { key: OBJECTIVE.into(), description: description.into(), change_sought: change_sought.into() }
}

/// The statements on requirements 1, 2, 4 and 5, in that order.
fn statements(
    practice_development: &str,
    systematic_work: &str,
    long_term_perspective: &str,
    evaluation_approach: &str,
) -> Option<RequirementStatements> {
    Some(RequirementStatements {
        practice_development: practice_development.into(),
        systematic_work: systematic_work.into(),
        long_term_perspective: long_term_perspective.into(),
        evaluation_approach: evaluation_approach.into(),
    })
}

#[allow(clippy::too_many_arguments)]
fn indicator(
    code: &str,
    name: &str,
    unit: &str,
    level: IndicatorLevel,
    base: f64,
    target: f64,
    year: i32,
) -> Indicator {
    Indicator {
        code: code.into(),
        display_name: name.into(),
        unit: unit.into(),
        direction: IndicatorDirection::HigherIsBetter as i32,
        level: level as i32,
        objective_key: OBJECTIVE.into(),
        baseline: Some(IndicatorBaseline { value: base, date: date(2020, 12, 31), source: "tenant register".into() }),
        target: Some(IndicatorTarget { value: target, date: date(year, 12, 31) }),
        method: "yearly count from the landlord's systems".into(),
    }
}

/// Botkyrkabyggen: ROT renovation of 380 homes, so that tenants can stay.
pub fn botkyrkabyggen() -> Application {
    Application {
        borrower: housing_company(BOTKYRKABYGGEN, "AB Botkyrkabyggen"),
        category: Category::HousingAndResidentialEnvironments as i32,
        title: "Varsam renovering av 380 bostäder i Fittja och Storvreten".into(),
        investment: Some(Investment {
            description: "ROT-renovering av 380 lägenheter i miljonprogramsområden".into(),
            total_amount: sek(600_000_000),
            municipality: "Botkyrka".into(),
            municipality_code: "0127".into(),
            district: "Fittja, Storvreten".into(),
            schedule: schedule(date(2021, 3, 1), date(2026, 12, 31)),
            ..Default::default()
        }),
        social_challenge: "Renoveringar driver ofta bort socioekonomiskt utsatta hyresgäster.".into(),
        target_groups: vec![target_group(
            TargetPopulation::LowIncome,
            "Hushåll med låga inkomster i de renoverade husen",
            900,
            "hyresgästregistret 2020",
        )],
        interventions: vec![
            intervention("Boendedialoger", "Dialog med varje hushåll före renovering"),
            intervention("Valbar standard", "Hyresgästen väljer renoveringsnivå och hyra"),
        ],
        objectives: vec![objective(
            "Ökat kvarboende och hyresgästinflytande",
            "Fler hushåll bor kvar efter renoveringen",
        )],
        intended_future_state: "Renoverade hem där samma hyresgäster bor kvar och har inflytande".into(),
        indicators: vec![
            indicator(
                "tenants_remaining_share",
                "Andel kvarboende",
                "percent",
                IndicatorLevel::Outcome,
                70.0,
                90.0,
                2026,
            ),
            indicator("homes_renovated", "Renoverade bostäder", "homes", IndicatorLevel::Output, 0.0, 380.0, 2025),
        ],
        sdg_targets: vec!["11.1".into(), "10.2".into()],
        requested_amount: sek(400_000_000),
        contact_person: Some(ContactPerson {
            name: "Anna Andersson".into(),
            email: "anna.andersson@example.se".into(),
            phone: "+46 8 000 00 00".into(),
            job_title: "Hållbarhetschef".into(),
            ..Default::default()
        }),
        attachments: vec![Attachment {
            name: "renoveringsstrategi.pdf".into(),
            media_type: "application/pdf".into(),
            size_bytes: 482_113,
            sha256: "9f2b5c7e1d3a4b6c8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d".into(),
            uri: "docstore://social-loans/botkyrkabyggen/renoveringsstrategi.pdf".into(),
            ..Default::default()
        }],
        requirement_statements: statements(
            "Strategi för varsam och hållbar renovering",
            "Del av bolagets sociala agenda: trygghetsvandringar, trygghetsvärdar",
            "Husens livslängd förlängs med 50 år",
            "Årlig uppföljning av kvarboende och inflytande",
        ),
        ..Default::default()
    }
}

/// AB Eidar: the head office moved to Granngården centre in Lextorp.
pub fn eidar() -> Application {
    Application {
        borrower: housing_company(EIDAR, "AB Eidar, Trollhättans bostadsbolag"),
        category: Category::SafetySecurityAndAccessibility as i32,
        title: "Huvudkontor och närservice i Granngården Centrum, Lextorp".into(),
        investment: Some(Investment {
            description: "Upprustning och utbyggnad av lokaler och utemiljö i Granngården Centrum".into(),
            total_amount: sek(120_000_000),
            municipality: "Trollhättan".into(),
            municipality_code: "1488".into(),
            district: "Lextorp".into(),
            already_completed: true,
            schedule: schedule(date(2018, 6, 1), date(2020, 9, 30)),
            ..Default::default()
        }),
        social_challenge: "En öde stadsdelsgalleria med påtaglig otrygghet och negativ utveckling".into(),
        target_groups: vec![target_group(
            TargetPopulation::GeneralPublic,
            "Boende i Lextorp, särskilt äldre som behöver närservice",
            5000,
            "SCB 2019",
        )],
        interventions: vec![intervention(
            "Huvudkontoret till Lextorp",
            "Bolagets kontor flyttar in och drar andra verksamheter med sig",
        )],
        objectives: vec![objective("Tryggare stadsdel med levande centrum", "Fler arbetsplatser och mer närservice")],
        intended_future_state: "Ett levande centrum där hela stadsdelen fungerar bättre".into(),
        indicators: vec![indicator(
            "jobs_created",
            "Arbetsplatser i centrumet",
            "jobs",
            IndicatorLevel::Outcome,
            20.0,
            200.0,
            2024,
        )],
        sdg_targets: vec!["11.7".into(), "8.5".into()],
        requested_amount: sek(80_000_000),
        contact_person: Some(ContactPerson {
            name: "Erik Eriksson".into(),
            email: "erik.eriksson@example.se".into(),
            ..Default::default()
        }),
        requirement_statements: statements(
            "Bostadsbolaget som motor för en stadsdels utveckling",
            "Del av Trollhättans program för social hållbarhet",
            "Kontoret stannar i stadsdelen",
            "Årlig mätning av arbetsplatser, service och trygghet",
        ),
        ..Default::default()
    }
}
