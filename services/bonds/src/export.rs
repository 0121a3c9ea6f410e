//! The investor impact report as a file: CSV (a row per project, then the
//! category and target population totals) or an SVG chart of the financed
//! amount by category and by population; in English or Swedish (the CSV
//! then separated by semicolons, `12 500 000 kr`, decimal commas).

use std::fmt::Write;

use socialloans_contracts::bonds as pb;
use socialloans_contracts::common::{Category, Money};
use socialloans_documents::{
    Language,
    names::pick,
    numbers::{iso_date, money, number},
};

use crate::views::{category_label, population_label};

fn field(text: &str, separator: char) -> String {
    if text.contains([separator, '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn amount(value: Option<&Money>, language: Language) -> String {
    let minor = value.map_or(0, |m| m.minor_units);
    match language {
        Language::Swedish => money(minor, language),
        Language::English => format!("{}.{:02}", minor / 100, (minor % 100).abs()),
    }
}

fn decimal(value: f64, language: Language) -> String {
    match language {
        Language::Swedish => number(value, 2, language).replace('\u{a0}', " "),
        Language::English => format!("{value:.2}"),
    }
}

/// The report as CSV.
pub fn csv(report: &pb::InvestorImpactReport, language: Language) -> String {
    let sep = if language == Language::Swedish { ';' } else { ',' };
    let mut out = String::new();
    let header = pick(
        language,
        "rad;ansökan;titel;organisationsnummer;låntagare;kategori;kommun;projektkostnad;finansierat;långivarens andel %;indikator;enhet;värde;hänförbart värde",
        "row,application,title,organization_number,borrower,category,municipality,project_cost,financed,lender_share_percent,indicator,unit,value,attributed_value",
    );
    let _ = writeln!(out, "{header}");
    let line = |cells: &[String]| cells.iter().map(|c| field(c, sep)).collect::<Vec<_>>().join(&sep.to_string());
    for p in &report.projects {
        let category = Category::try_from(p.category).unwrap_or_default().as_str_name();
        let base = vec![
            pick(language, "projekt", "project").to_owned(),
            p.application.clone(),
            p.title.clone(),
            p.organization_number.clone(),
            p.borrower_display_name.clone(),
            category_label(category, language),
            p.municipality.clone(),
            amount(p.project_cost.as_ref(), language),
            amount(p.financed.as_ref(), language),
            decimal(p.lender_share_percent, language),
        ];
        if p.indicators.is_empty() {
            let _ = writeln!(out, "{}", line(&[base.clone(), vec![String::new(); 4]].concat()));
        }
        for i in &p.indicators {
            let values = vec![
                i.indicator_code.clone(),
                i.unit.clone(),
                decimal(i.value, language),
                decimal(i.attributed_value, language),
            ];
            let _ = writeln!(out, "{}", line(&[base.clone(), values].concat()));
        }
    }
    let groups = [
        (pick(language, "kategori", "category"), &report.by_category, true),
        (pick(language, "målgrupp", "population"), &report.by_population, false),
    ];
    for (row, list, is_category) in groups {
        for g in list {
            let label = if is_category { category_label(&g.key, language) } else { population_label(&g.key, language) };
            let mut base = vec![row.to_owned(), g.key.clone(), label, String::new(), String::new(), String::new()];
            base.extend([
                String::new(),
                amount(g.project_cost.as_ref(), language),
                amount(g.financed.as_ref(), language),
            ]);
            base.push(String::new());
            if g.indicators.is_empty() {
                let _ = writeln!(out, "{}", line(&[base.clone(), vec![String::new(); 4]].concat()));
            }
            for i in &g.indicators {
                let values = vec![
                    i.indicator_code.clone(),
                    i.unit.clone(),
                    decimal(i.total, language),
                    decimal(i.attributed_total, language),
                ];
                let _ = writeln!(out, "{}", line(&[base.clone(), values].concat()));
            }
        }
    }
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as an SVG chart: financed amount by category and by target
/// population, in million kronor.
pub fn svg(report: &pb::InvestorImpactReport, language: Language) -> String {
    let rows: Vec<(String, i64)> = report
        .by_category
        .iter()
        .map(|g| (category_label(&g.key, language), g.financed.as_ref().map_or(0, |m| m.minor_units)))
        .chain(std::iter::once((String::new(), -1)))
        .chain(
            report
                .by_population
                .iter()
                .map(|g| (population_label(&g.key, language), g.financed.as_ref().map_or(0, |m| m.minor_units))),
        )
        .collect();
    let largest = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let height = 110 + rows.len() as i64 * 30;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="{height}" font-family="sans-serif" font-size="13">"##
    );
    let title = pick(
        language,
        "Investerarrapport: finansierat per kategori och målgrupp",
        "Investor impact report: financed by category and target population",
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="30" font-size="18">{} {}</text>"##,
        xml(title),
        iso_date(report.as_of.as_ref())
    );
    let share = pick(language, "Obligationernas andel av poolen", "The bonds' share of the pool");
    let _ = writeln!(
        s,
        r##"<text x="20" y="55">{}: {} %</text>"##,
        xml(share),
        decimal(report.bond_share_percent, language)
    );
    for (i, (label, minor)) in rows.iter().enumerate() {
        if *minor < 0 {
            continue;
        }
        let y = 80 + i as i64 * 30;
        let width = minor * 480 / largest;
        let msek = number(*minor as f64 / 100_000_000.0, 1, language);
        let _ = writeln!(s, r##"<text x="20" y="{}">{}</text>"##, y + 15, xml(label));
        let _ = writeln!(s, r##"<rect x="360" y="{y}" width="{width}" height="20" fill="#1f5f8b"/>"##);
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}">{} {}</text>"##,
            370 + width,
            y + 15,
            msek,
            pick(language, "mnkr", "MSEK")
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kronor in öre.
    const fn kr(kronor: i64) -> i64 {
        kronor * 100
    }

    fn report() -> pb::InvestorImpactReport {
        pb::InvestorImpactReport {
            as_of: Some(socialloans_contracts::common::Date { year: 2026, month: 12, day: 31 }),
            projects: vec![pb::ProjectImpact {
                application: "applications/a".into(),
                title: "Fittja; \"renovering\"".into(),
                category: Category::HousingAndResidentialEnvironments as i32,
                project_cost: Some(Money { currency_code: "SEK".into(), minor_units: kr(2_000_000_000) }),
                financed: Some(Money { currency_code: "SEK".into(), minor_units: kr(1_250_000_000) }),
                lender_share_percent: 62.5,
                indicators: vec![pb::IndicatorResult {
                    indicator_code: "dwellings".into(),
                    unit: "count".into(),
                    value: 380.0,
                    attributed_value: 237.5,
                }],
                ..Default::default()
            }],
            by_category: vec![pb::ImpactGroup {
                key: "CATEGORY_HOUSING_AND_RESIDENTIAL_ENVIRONMENTS".into(),
                financed: Some(Money { currency_code: "SEK".into(), minor_units: kr(1_250_000_000) }),
                ..Default::default()
            }],
            bond_share_percent: 80.0,
            ..Default::default()
        }
    }

    #[test]
    fn the_csv_is_written_as_each_language_reads_it_and_quotes_what_needs_it() {
        let english = csv(&report(), Language::English);
        let lines: Vec<&str> = english.lines().collect();
        assert!(lines[0].starts_with("row,application,"));
        assert!(lines[1].contains(",1250000000.00,62.50,dwellings,count,380.00,237.50"), "{}", lines[1]);
        assert!(lines[1].contains("\"Fittja; \"\"renovering\"\"\""));
        let swedish = csv(&report(), Language::Swedish);
        let row = swedish.lines().nth(1).unwrap();
        assert!(row.contains(";1 250 000 000 kr;62,50;dwellings;count;380,00;237,50"), "{row}");
        assert!(swedish.lines().nth(2).unwrap().starts_with("kategori;CATEGORY_HOUSING"));
    }

    #[test]
    fn the_chart_is_in_the_asked_language_and_escapes_its_text() {
        let swedish = svg(&report(), Language::Swedish);
        assert!(
            swedish.starts_with("<svg") && swedish.contains("Investerarrapport") && swedish.contains("1 250,0 mnkr")
        );
        assert!(svg(&report(), Language::English).contains("1,250.0 MSEK"));
    }
}
