//! The register's figures as the contract shows them, and as the flat
//! list of `key=value` figures a published vintage is signed over and
//! compared by.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use socialloans_contracts::bonds as pb;
use socialloans_contracts::common::{Category, Date, Money, TargetPopulation};
use socialloans_documents::{Language, names};
use socialloans_platform::timestamp;

use crate::model::{self, Allocation, Impact, Snapshot};

/// A calendar date from the contract; `None` when unset or not a date.
pub fn day(date: Option<&Date>) -> Option<NaiveDate> {
    let d = date?;
    socialloans_platform::limits::date(d.year, d.month, d.day, 1900..=9999)
}

/// Millionths as the rate's text: "11.4523", "1".
pub fn rate_text(micros: i64) -> String {
    let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `öre` as SEK.
pub fn sek(ore: i64) -> Money {
    Money { currency_code: "SEK".into(), minor_units: ore }
}

/// A calendar date for the contract.
pub fn date(day: NaiveDate) -> Date {
    Date { year: day.year(), month: day.month() as i32, day: day.day() as i32 }
}

/// The headroom on `as_of` as known at `known_at`.
pub fn headroom(h: &model::Headroom, as_of: NaiveDate, known_at: DateTime<Utc>, margin_percent: u32) -> pb::Headroom {
    pb::Headroom {
        as_of: Some(date(as_of)),
        known_at: Some(timestamp(known_at)),
        pool: Some(sek(h.pool)),
        bonds_outstanding: Some(sek(h.bonds)),
        headroom: Some(sek(h.headroom())),
        margin: Some(sek(h.margin(margin_percent))),
        loan_count: h.loans as i32,
        bond_ratio_percent: model::percent(h.bonds, h.pool),
    }
}

/// The English name of a category stored by its enum name.
pub fn category_label(key: &str, language: Language) -> String {
    match Category::from_str_name(key) {
        Some(category) if category != Category::Unspecified => names::category(category, language).to_owned(),
        _ => key.to_owned(),
    }
}

/// The name of a target population stored by its enum name.
pub fn population_label(key: &str, language: Language) -> String {
    match TargetPopulation::from_str_name(key) {
        Some(population) if population != TargetPopulation::Unspecified => {
            names::population(population, language).to_owned()
        }
        _ => key.to_owned(),
    }
}

fn parts(amounts: &BTreeMap<String, i64>, whole: i64, label: impl Fn(&str) -> String) -> Vec<pb::Part> {
    amounts
        .iter()
        .map(|(key, &amount)| pb::Part {
            key: key.clone(),
            label: label(key),
            amount: Some(sek(amount)),
            share_percent: model::percent(amount, whole),
        })
        .collect()
}

/// The allocation report.
pub fn allocation(snapshot: &Snapshot, report: &Allocation, margin_percent: u32) -> pb::AllocationReport {
    let municipalities: BTreeMap<String, String> =
        snapshot.projects.values().map(|p| (p.municipality_code.clone(), p.municipality.clone())).collect();
    let municipality = |code: &str| municipalities.get(code).cloned().unwrap_or_default();
    let category = |key: &str| category_label(key, Language::English);
    let bonds = report
        .bonds
        .iter()
        .map(|b| pb::BondAllocation {
            bond: format!("bonds/{}", b.bond.isin),
            isin: b.bond.isin.clone(),
            outstanding_nominal: Some(Money {
                currency_code: b.bond.currency.clone(),
                minor_units: b.bond.outstanding_nominal,
            }),
            outstanding_sek: Some(sek(b.outstanding_sek)),
            allocated: Some(sek(b.allocated)),
            unallocated: Some(sek(b.unallocated)),
            new_financing: Some(sek(b.new_financing)),
            refinancing: Some(sek(b.refinancing)),
            by_category: parts(&b.by_category, b.allocated, category),
            by_municipality: parts(&b.by_municipality, b.allocated, municipality),
            exchange_rate: rate_text(b.bond.rate_micros),
            issue_date: Some(date(b.bond.issue_date)),
        })
        .collect();
    let loans = snapshot
        .loans
        .iter()
        .map(|l| {
            let project = snapshot.project(&l.application);
            pb::PoolLoan {
                loan_id: l.loan_id.clone(),
                application: l.application.clone(),
                organization_number: project.organization_number,
                category: Category::from_str_name(&project.category).unwrap_or_default() as i32,
                municipality_code: project.municipality_code,
                outstanding: Some(sek(l.outstanding)),
                disbursement_date: Some(date(l.disbursement)),
                maturity_date: Some(date(l.maturity)),
            }
        })
        .collect();
    pb::AllocationReport {
        as_of: Some(date(snapshot.as_of)),
        known_at: Some(timestamp(snapshot.known_at)),
        headroom: Some(headroom(&report.headroom, snapshot.as_of, snapshot.known_at, margin_percent)),
        allocated: Some(sek(report.allocated)),
        unallocated: Some(sek(report.unallocated)),
        new_financing: Some(sek(report.new_financing)),
        refinancing: Some(sek(report.refinancing)),
        by_category: parts(&report.by_category, report.allocated, category),
        by_municipality: parts(&report.by_municipality, report.allocated, municipality),
        bonds,
        loans,
    }
}

fn group(key: &str, label: String, g: &model::ImpactGroup) -> pb::ImpactGroup {
    pb::ImpactGroup {
        key: key.to_owned(),
        label,
        project_count: g.projects as i32,
        financed: Some(sek(g.financed)),
        project_cost: Some(sek(g.project_cost)),
        indicators: g
            .indicators
            .iter()
            .map(|((code, unit), a)| pb::IndicatorAggregate {
                indicator_code: code.clone(),
                unit: unit.clone(),
                project_count: a.projects as i32,
                total: a.total,
                attributed_total: a.attributed,
                financed_weighted_mean: a.weighted_mean(),
            })
            .collect(),
    }
}

/// The investor impact report.
pub fn impact(snapshot: &Snapshot, report: &Impact) -> pb::InvestorImpactReport {
    let projects = report
        .projects
        .iter()
        .map(|p| pb::ProjectImpact {
            application: p.project.application.clone(),
            title: p.project.title.clone(),
            organization_number: p.project.organization_number.clone(),
            borrower_display_name: p.project.borrower_name.clone(),
            category: Category::from_str_name(&p.project.category).unwrap_or_default() as i32,
            municipality: p.project.municipality.clone(),
            municipality_code: p.project.municipality_code.clone(),
            populations: p
                .project
                .populations
                .iter()
                .map(|k| TargetPopulation::from_str_name(k).unwrap_or_default() as i32)
                .collect(),
            project_cost: Some(sek(p.project.project_cost)),
            financed: Some(sek(p.financed)),
            lender_share_percent: p.lender_share(),
            indicators: p
                .indicators
                .iter()
                .map(|i| pb::IndicatorResult {
                    indicator_code: i.code.clone(),
                    unit: i.unit.clone(),
                    value: i.value,
                    attributed_value: p.attributed(i.value),
                })
                .collect(),
            period_end: p.indicators.iter().map(|i| i.period_end).max().map(date),
        })
        .collect();
    pb::InvestorImpactReport {
        as_of: Some(date(snapshot.as_of)),
        known_at: Some(timestamp(snapshot.known_at)),
        projects,
        by_category: report
            .by_category
            .iter()
            .map(|(k, g)| group(k, category_label(k, Language::English), g))
            .collect(),
        by_population: report
            .by_population
            .iter()
            .map(|(k, g)| group(k, population_label(k, Language::English), g))
            .collect(),
        bond_share_percent: report.bond_share,
    }
}

/// A number as a figure: up to six decimals, no trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The allocation report's figures, sorted by key.
pub fn allocation_figures(report: &Allocation) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let h = report.headroom;
    for (key, value) in [
        ("pool", h.pool),
        ("bonds_outstanding", h.bonds),
        ("headroom", h.headroom()),
        ("allocated", report.allocated),
        ("unallocated", report.unallocated),
        ("new_financing", report.new_financing),
        ("refinancing", report.refinancing),
    ] {
        f.insert(format!("total/{key}"), value.to_string());
    }
    f.insert("total/loans".into(), h.loans.to_string());
    f.insert("total/bond_ratio_percent".into(), format!("{:.2}", model::percent(h.bonds, h.pool)));
    for (key, amount) in &report.by_category {
        f.insert(format!("category/{key}/allocated"), amount.to_string());
    }
    for (key, amount) in &report.by_municipality {
        f.insert(format!("municipality/{key}/allocated"), amount.to_string());
    }
    for b in &report.bonds {
        let isin = &b.bond.isin;
        f.insert(format!("bond/{isin}/outstanding_nominal"), b.bond.outstanding_nominal.to_string());
        for (key, value) in [
            ("outstanding_sek", b.outstanding_sek),
            ("allocated", b.allocated),
            ("unallocated", b.unallocated),
            ("new_financing", b.new_financing),
            ("refinancing", b.refinancing),
        ] {
            f.insert(format!("bond/{isin}/{key}"), value.to_string());
        }
    }
    f
}

/// The pool's loans as figures (part of the allocation report's).
pub fn loan_figures(snapshot: &Snapshot, figures: &mut BTreeMap<String, String>) {
    for loan in &snapshot.loans {
        figures.insert(format!("loan/{}/outstanding", loan.loan_id), loan.outstanding.to_string());
    }
}

/// The impact report's figures, sorted by key.
pub fn impact_figures(report: &Impact) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("total/bond_share_percent".into(), format!("{:.2}", report.bond_share));
    for p in &report.projects {
        let id = p.project.application.trim_start_matches("applications/");
        f.insert(format!("project/{id}/financed"), p.financed.to_string());
        f.insert(format!("project/{id}/project_cost"), p.project.project_cost.to_string());
        f.insert(format!("project/{id}/lender_share_percent"), format!("{:.2}", p.lender_share()));
        for i in &p.indicators {
            f.insert(format!("project/{id}/indicator/{}", i.code), number(i.value));
        }
    }
    for (prefix, groups) in [("category", &report.by_category), ("population", &report.by_population)] {
        for (key, g) in groups {
            f.insert(format!("{prefix}/{key}/projects"), g.projects.to_string());
            f.insert(format!("{prefix}/{key}/financed"), g.financed.to_string());
            for ((code, _), a) in &g.indicators {
                f.insert(format!("{prefix}/{key}/indicator/{code}/total"), number(a.total));
                f.insert(format!("{prefix}/{key}/indicator/{code}/attributed"), number(a.attributed));
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_without_trailing_zeros_and_dates_as_the_contract_has_them() {
        assert_eq!(number(380.0), "380");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(date("2026-12-31".parse().unwrap()), Date { year: 2026, month: 12, day: 31 });
        assert_eq!(
            category_label("CATEGORY_HOUSING_AND_RESIDENTIAL_ENVIRONMENTS", Language::English),
            "Housing and residential environments"
        );
        assert_eq!(population_label("NOT_A_POPULATION", Language::English), "NOT_A_POPULATION");
    }
}
