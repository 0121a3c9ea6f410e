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
        objective_key: "o1".into(),
        baseline: Some(IndicatorBaseline { value: base, date: date(2020, 12, 31), source: "tenant register".into() }),
        target: Some(IndicatorTarget { value: target, date: date(year, 12, 31) }),
        method: "yearly count from the landlord's systems".into(),
    }
}

/// Botkyrkabyggen: ROT renovation of 380 homes, so that tenants can stay.
pub fn botkyrkabyggen() -> Application {
    Application {
        borrower: Some(Borrower {
            organization_number: BOTKYRKABYGGEN.into(),
            display_name: "AB Botkyrkabyggen".into(),
            r#type: OrganizationType::MunicipalHousingCompany as i32,
        }),
        category: Category::HousingAndResidentialEnvironments as i32,
        title: "Varsam renovering av 380 bostäder i Fittja och Storvreten".into(),
        investment: Some(Investment {
            description: "ROT-renovering av 380 lägenheter i miljonprogramsområden".into(),
            total_amount: sek(600_000_000),
            municipality: "Botkyrka".into(),
            municipality_code: "0127".into(),
            district: "Fittja, Storvreten".into(),
            schedule: Some(InvestmentSchedule {
                start_date: date(2021, 3, 1),
                completion_date: date(2026, 12, 31),
                ..Default::default()
            }),
            ..Default::default()
        }),
        social_challenge: "Renoveringar driver ofta bort socioekonomiskt utsatta hyresgäster.".into(),
        target_groups: vec![TargetGroup {
            population: TargetPopulation::LowIncome as i32,
            description: "Hushåll med låga inkomster i de renoverade husen".into(),
            estimated_size: 900,
            size_basis: "hyresgästregistret 2020".into(),
        }],
        interventions: botkyrkabyggen_interventions(),
        objectives: vec![Objective {
            key: "o1".into(),
            description: "Ökat kvarboende och hyresgästinflytande".into(),
            change_sought: "Fler hushåll bor kvar efter renoveringen".into(),
        }],
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
        requirement_statements: Some(RequirementStatements {
            practice_development: "Strategi för varsam och hållbar renovering".into(),
            systematic_work: "Del av bolagets sociala agenda: trygghetsvandringar, trygghetsvärdar".into(),
            long_term_perspective: "Husens livslängd förlängs med 50 år".into(),
            evaluation_approach: "Årlig uppföljning av kvarboende och inflytande".into(),
        }),
        ..Default::default()
    }
}

/// Botkyrkabyggen's two interventions: dialogue with every household, and
/// a standard (and so a rent) each chooses.
fn botkyrkabyggen_interventions() -> Vec<Intervention> {
    vec![
        Intervention {
            title: "Boendedialoger".into(),
            description: "Dialog med varje hushåll före renovering".into(),
            ..Default::default()
        },
        Intervention {
            title: "Valbar standard".into(),
            description: "Hyresgästen väljer renoveringsnivå och hyra".into(),
            ..Default::default()
        },
    ]
}

/// AB Eidar: the head office moved to Granngården centre in Lextorp.
pub fn eidar() -> Application {
    Application {
        borrower: Some(Borrower {
            organization_number: EIDAR.into(),
            display_name: "AB Eidar, Trollhättans bostadsbolag".into(),
            r#type: OrganizationType::MunicipalHousingCompany as i32,
        }),
        category: Category::SafetySecurityAndAccessibility as i32,
        title: "Huvudkontor och närservice i Granngården Centrum, Lextorp".into(),
        investment: Some(Investment {
            description: "Upprustning och utbyggnad av lokaler och utemiljö i Granngården Centrum".into(),
            total_amount: sek(120_000_000),
            municipality: "Trollhättan".into(),
            municipality_code: "1488".into(),
            district: "Lextorp".into(),
            already_completed: true,
            schedule: Some(InvestmentSchedule {
                start_date: date(2018, 6, 1),
                completion_date: date(2020, 9, 30),
                ..Default::default()
            }),
            ..Default::default()
        }),
        social_challenge: "En öde stadsdelsgalleria med påtaglig otrygghet och negativ utveckling".into(),
        target_groups: vec![TargetGroup {
            population: TargetPopulation::GeneralPublic as i32,
            description: "Boende i Lextorp, särskilt äldre som behöver närservice".into(),
            estimated_size: 5000,
            size_basis: "SCB 2019".into(),
        }],
        interventions: vec![Intervention {
            title: "Huvudkontoret till Lextorp".into(),
            description: "Bolagets kontor flyttar in och drar andra verksamheter med sig".into(),
            ..Default::default()
        }],
        objectives: vec![Objective {
            key: "o1".into(),
            description: "Tryggare stadsdel med levande centrum".into(),
            change_sought: "Fler arbetsplatser och mer närservice".into(),
        }],
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
        requirement_statements: Some(RequirementStatements {
            practice_development: "Bostadsbolaget som motor för en stadsdels utveckling".into(),
            systematic_work: "Del av Trollhättans program för social hållbarhet".into(),
            long_term_perspective: "Kontoret stannar i stadsdelen".into(),
            evaluation_approach: "Årlig mätning av arbetsplatser, service och trygghet".into(),
        }),
        ..Default::default()
    }
}
