//! The portfolio impact report as files: a CSV to work with and an SVG chart
//! ([`chart`]) to look at, in English or Swedish. Both are pure functions of
//! the report message, so what the files say is exactly what
//! `GetPortfolioImpactReport` answers.

mod chart;

pub use chart::svg;

use socialloans_contracts::common::{Category, IndicatorLevel, Money, TargetPopulation};
use socialloans_contracts::monitoring::{ExportFormat, PortfolioImpactReport};
use socialloans_documents::{Language, names, names::pick, numbers};

/// The CSV header; every row has these columns, empty where they do not apply.
pub const CSV_COLUMNS: [&str; 21] = [
    "as_of",
    "section",
    "category",
    "target_group",
    "sdg_target",
    "indicator_code",
    "indicator",
    "unit",
    "level",
    "plan_count",
    "reporting_plan_count",
    "improved_plan_count",
    "target_reached_plan_count",
    "approved_amount_sek",
    "tagged_loan_amount_sek",
    "estimated_people",
    "people_reached",
    "baseline_sum",
    "latest_sum",
    "target_sum",
    "outstanding_loan_amount_sek",
];

/// The Swedish CSV's header, column for column [`CSV_COLUMNS`].
pub const SWEDISH_CSV_COLUMNS: [&str; 21] = [
    "Per datum",
    "Avsnitt",
    "Kategori",
    "Målgrupp",
    "Delmål i Agenda 2030",
    "Indikatorkod",
    "Indikator",
    "Enhet",
    "Nivå",
    "Antal projekt",
    "Rapporterande projekt",
    "Förbättrade projekt",
    "Projekt som nått målet",
    "Beviljat belopp",
    "Märkta lån",
    "Uppskattat antal personer",
    "Nådda personer",
    "Summa utgångsläge",
    "Summa senaste värde",
    "Summa mål",
    "Utestående lånebelopp",
];

/// "1234.50" for 123450 öre; exact, never through floating point.
pub fn kronor(money: Option<&Money>) -> String {
    let minor = money.map_or(0, |m| m.minor_units);
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (minor / 100).unsigned_abs(), (minor % 100).unsigned_abs())
}

/// One CSV cell's text. Text a spreadsheet would take for a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and is not a
/// number, in either language's way of writing one) is given a leading
/// apostrophe, so that a name typed into the catalogue cannot run in the
/// reader's spreadsheet. Quoting is the CSV writer's.
fn defused(value: String) -> String {
    let plain = value.trim_end_matches(" kr").replace(' ', "").replace(',', ".");
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && plain.parse::<f64>().is_err();
    if formula { format!("'{value}") } else { value }
}

fn label(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn category_label(category: i32, language: Language) -> String {
    let category = Category::try_from(category).unwrap_or_default();
    match language {
        Language::Swedish => names::category(category, language).to_owned(),
        Language::English => label(category.as_str_name(), "CATEGORY_"),
    }
}

fn population_label(population: i32, language: Language) -> String {
    let population = TargetPopulation::try_from(population).unwrap_or_default();
    match language {
        Language::Swedish => names::population(population, language).to_owned(),
        Language::English => label(population.as_str_name(), "TARGET_POPULATION_"),
    }
}

fn level_label(level: i32, language: Language) -> String {
    let level = IndicatorLevel::try_from(level).unwrap_or_default();
    match (language, level) {
        (Language::Swedish, IndicatorLevel::Output) => "prestation".into(),
        (Language::Swedish, IndicatorLevel::Outcome) => "resultat".into(),
        (Language::Swedish, IndicatorLevel::Impact) => "effekt".into(),
        _ => label(level.as_str_name(), "INDICATOR_LEVEL_"),
    }
}

/// A row's section: `portfolio`, `category`, `indicator`, `target_group`
/// or `sdg`.
#[derive(Debug, Clone, Copy, Default)]
enum Section {
    #[default]
    Portfolio,
    Category,
    Indicator,
    TargetGroup,
    Sdg,
}

impl Section {
    fn word(self, language: Language) -> &'static str {
        match self {
            Section::Portfolio => pick(language, "portfölj", "portfolio"),
            Section::Category => pick(language, "kategori", "category"),
            Section::Indicator => pick(language, "indikator", "indicator"),
            Section::TargetGroup => pick(language, "målgrupp", "target_group"),
            Section::Sdg => pick(language, "sdg", "sdg"),
        }
    }
}

/// One CSV row; what a row does not have stays an empty cell.
#[derive(Default)]
struct Line {
    section: Section,
    category: String,
    target_group: String,
    sdg_target: String,
    indicator_code: String,
    indicator: String,
    unit: String,
    level: String,
    plan_count: i32,
    counts: Option<[i32; 3]>,
    approved: Option<Money>,
    tagged: Option<Money>,
    people: Option<(i64, i64)>,
    sums: Option<[f64; 3]>,
    outstanding: Option<Money>,
}

/// `value` as a reader of `language` writes it, with the decimals Rust's
/// shortest exact form has (at most six).
fn decimal(value: f64, language: Language) -> String {
    match language {
        Language::English => value.to_string(),
        Language::Swedish => {
            let shortest = value.to_string();
            let decimals = shortest.split_once('.').map_or(0, |(_, d)| d.len()).min(6);
            numbers::number(value, decimals, language)
        }
    }
}

impl Line {
    fn cells(self, as_of: &str, language: Language) -> Vec<String> {
        let money = |m: Option<Money>| match (m, language) {
            (None, _) => String::new(),
            (Some(m), Language::English) => kronor(Some(&m)),
            (Some(m), Language::Swedish) => numbers::money(m.minor_units, language),
        };
        let whole = |n: i64| match language {
            Language::English => n.to_string(),
            Language::Swedish => numbers::number(n as f64, 0, language),
        };
        let [reporting, improved, reached] = self.counts.map(|c| c.map(|n| n.to_string())).unwrap_or_default();
        let [baseline, latest, target] = self.sums.map(|c| c.map(|n| decimal(n, language))).unwrap_or_default();
        vec![
            as_of.to_owned(),
            self.section.word(language).to_owned(),
            self.category,
            self.target_group,
            self.sdg_target,
            self.indicator_code,
            self.indicator,
            self.unit,
            self.level,
            self.plan_count.to_string(),
            reporting,
            improved,
            reached,
            money(self.approved),
            money(self.tagged),
            self.people.map(|p| whole(p.0)).unwrap_or_default(),
            self.people.map(|p| whole(p.1)).unwrap_or_default(),
            baseline,
            latest,
            target,
            money(self.outstanding),
        ]
    }
}

/// The report's money in `money`, zero when it has none.
fn sek(money: Option<&Money>) -> Option<Money> {
    Some(money.cloned().unwrap_or_else(|| Money { currency_code: "SEK".into(), minor_units: 0 }))
}

/// The report as CSV in `language`: a portfolio row, then per category its
/// total and its indicators, then target groups and SDG targets. In Swedish
/// the cells are separated by semicolons, a comma being the decimal mark.
pub fn csv(report: &PortfolioImpactReport, language: Language) -> String {
    let as_of = report.as_of.as_ref().map(crate::plans::iso).unwrap_or_default();
    let mut lines = vec![Line {
        section: Section::Portfolio,
        plan_count: report.plan_count,
        approved: sek(report.approved_amount.as_ref()),
        tagged: sek(report.tagged_loan_amount.as_ref()),
        outstanding: sek(report.outstanding_loan_amount.as_ref()),
        ..Line::default()
    }];
    for c in &report.by_category {
        let category = category_label(c.category, language);
        lines.push(Line {
            section: Section::Category,
            category: category.clone(),
            plan_count: c.plan_count,
            approved: sek(c.approved_amount.as_ref()),
            tagged: sek(c.tagged_loan_amount.as_ref()),
            outstanding: sek(c.outstanding_loan_amount.as_ref()),
            ..Line::default()
        });
        lines.extend(c.indicators.iter().map(|i| Line {
            section: Section::Indicator,
            category: category.clone(),
            indicator_code: i.indicator_code.clone(),
            indicator: chart::indicator_name(i, language).to_owned(),
            unit: i.unit.clone(),
            level: level_label(i.level, language),
            plan_count: i.plan_count,
            counts: Some([i.reporting_plan_count, i.improved_plan_count, i.target_reached_plan_count]),
            sums: Some([i.baseline_sum, i.latest_sum, i.target_sum]),
            ..Line::default()
        }));
    }
    lines.extend(report.by_target_group.iter().map(|g| Line {
        section: Section::TargetGroup,
        target_group: population_label(g.population, language),
        plan_count: g.plan_count,
        approved: sek(g.approved_amount.as_ref()),
        people: Some((g.estimated_people, g.people_reached)),
        ..Line::default()
    }));
    lines.extend(report.by_sdg.iter().map(|s| Line {
        section: Section::Sdg,
        sdg_target: s.sdg_target.clone(),
        plan_count: s.plan_count,
        approved: sek(s.approved_amount.as_ref()),
        tagged: sek(s.tagged_loan_amount.as_ref()),
        ..Line::default()
    }));
    let (delimiter, header) = match language {
        Language::English => (b',', CSV_COLUMNS),
        Language::Swedish => (b';', SWEDISH_CSV_COLUMNS),
    };
    // Writing to memory cannot fail, and every cell is UTF-8 text.
    let mut out = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    let _ = out.write_record(header);
    for line in lines {
        let _ = out.write_record(line.cells(&as_of, language).into_iter().map(defused));
    }
    out.into_inner().ok().and_then(|bytes| String::from_utf8(bytes).ok()).unwrap_or_default()
}

/// The report as a file in `format` (SVG; anything else CSV) and
/// `language`, named for the day `day` it is as of: its media type, file
/// name and content.
pub fn file(
    report: &PortfolioImpactReport,
    format: i32,
    language: Language,
    day: chrono::NaiveDate,
) -> (&'static str, String, String) {
    let day = day.format("%Y-%m-%d");
    let name = pick(language, "portfoljens-effekter", "portfolio-impact");
    match ExportFormat::try_from(format) {
        Ok(ExportFormat::Svg) => ("image/svg+xml", format!("{name}-{day}.svg"), svg(report, language)),
        _ => ("text/csv; charset=utf-8", format!("{name}-{day}.csv"), csv(report, language)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use socialloans_contracts::monitoring::{CategoryImpact, IndicatorAggregate};

    #[test]
    fn a_cell_a_spreadsheet_would_run_as_a_formula_is_defused_but_numbers_stay_numbers() {
        let cell = |text: &str| defused(text.to_owned());
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("+46"), "+46");
        assert_eq!(cell("-12.50"), "-12.50");
        assert_eq!(cell("-cmd"), "'-cmd");
        assert_eq!(cell("Trygghet, Lextorp"), "Trygghet, Lextorp");
    }

    #[test]
    fn kronor_are_exact_with_two_decimals() {
        let m = |minor_units| Some(Money { currency_code: "SEK".into(), minor_units });
        assert_eq!(kronor(m(12_500_000_000).as_ref()), "125000000.00");
        assert_eq!(kronor(m(5).as_ref()), "0.05");
        assert_eq!(kronor(m(-150).as_ref()), "-1.50");
        assert_eq!(kronor(None), "0.00");
    }

    /// A report of one category, `category` with the one indicator `indicator`.
    pub(crate) fn one_indicator(category: CategoryImpact, indicator: IndicatorAggregate) -> PortfolioImpactReport {
        let category = CategoryImpact { indicators: vec![indicator], ..category };
        PortfolioImpactReport { by_category: vec![category], ..Default::default() }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_every_row_has_every_column() {
        let report = one_indicator(
            CategoryImpact {
                category: Category::HousingAndResidentialEnvironments as i32,
                plan_count: 1,
                ..Default::default()
            },
            IndicatorAggregate {
                indicator_code: "=cmd|' /C calc'!A0".into(),
                display_name: "Homes, \"renovated\"".into(),
                plan_count: 1,
                ..Default::default()
            },
        );
        let report = PortfolioImpactReport { plan_count: 1, ..report };
        let text = csv(&report, Language::English);
        assert!(text.contains(r#","Homes, ""renovated""","#), "{text}");
        assert!(text.contains(",'=cmd|' /C calc'!A0,"), "a formula is defused: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].split(',').count(), CSV_COLUMNS.len());
        assert_eq!(lines[2].split(',').count(), CSV_COLUMNS.len());
    }

    #[test]
    fn the_swedish_csv_is_separated_by_semicolons_in_swedish_words_kronor_and_decimal_commas() {
        let sek = |minor_units| Some(Money { currency_code: "SEK".into(), minor_units });
        let report = one_indicator(
            CategoryImpact {
                category: Category::HousingAndResidentialEnvironments as i32,
                plan_count: 1,
                approved_amount: sek(1_250_000_000),
                ..Default::default()
            },
            IndicatorAggregate {
                indicator_code: "homes_renovated".into(),
                display_name: "Homes renovated".into(),
                swedish_display_name: "Renoverade bostäder".into(),
                level: IndicatorLevel::Output as i32,
                plan_count: 1,
                baseline_sum: 1234.5,
                ..Default::default()
            },
        );
        let report = PortfolioImpactReport {
            plan_count: 1,
            approved_amount: sek(1_250_000_050),
            by_target_group: vec![socialloans_contracts::monitoring::TargetGroupImpact {
                population: TargetPopulation::LowIncome as i32,
                estimated_people: 12_000,
                ..Default::default()
            }],
            ..report
        };
        let text = csv(&report, Language::Swedish);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Per datum;Avsnitt;Kategori;"), "{text}");
        assert!(lines[1].contains(";portfölj;") && lines[1].contains(";12 500 000,50 kr;0 kr;"), "{text}");
        assert!(lines[2].contains(";kategori;Bostäder och boendemiljöer;") && lines[2].contains(";12 500 000 kr;"));
        assert!(lines[3].contains(";Renoverade bostäder;") && lines[3].contains(";prestation;"), "{text}");
        assert!(lines[3].contains(";1 234,5;0;0;"), "{text}");
        assert!(lines[4].contains(";målgrupp;;Låginkomsttagare;") && lines[4].contains(";12 000;0;"), "{text}");
        assert!(lines.iter().all(|l| l.split(';').count() == SWEDISH_CSV_COLUMNS.len()), "{text}");
        let english = csv(&report, Language::English);
        assert!(english.contains(",Homes renovated,") && english.contains(",12500000.50,"), "{english}");
    }

    #[test]
    fn swedish_numbers_are_not_mistaken_for_formulas() {
        assert_eq!(defused("-2 500,25".into()), "-2 500,25");
        assert_eq!(defused("-12 kr".into()), "-12 kr");
        assert_eq!(defused("-rm -rf".into()), "'-rm -rf");
    }

    #[test]
    fn an_svg_export_is_an_svg_file_and_any_other_format_a_csv_named_for_its_day() {
        let report = PortfolioImpactReport::default();
        let day = chrono::NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        let (media, name, content) = file(&report, ExportFormat::Svg as i32, Language::English, day);
        assert_eq!((media, name.as_str()), ("image/svg+xml", "portfolio-impact-2027-03-31.svg"));
        assert!(content.starts_with("<svg "), "{content}");
        let (media, name, content) = file(&report, ExportFormat::Csv as i32, Language::English, day);
        assert_eq!((media, name.as_str()), ("text/csv; charset=utf-8", "portfolio-impact-2027-03-31.csv"));
        assert_eq!(content, csv(&report, Language::English));
    }
}
