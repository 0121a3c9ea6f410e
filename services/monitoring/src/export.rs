//! The portfolio impact report as files: a CSV to work with and an SVG chart
//! to look at. Both are pure functions of the report message, so what the
//! files say is exactly what `GetPortfolioImpactReport` answers.

use std::fmt::Write;

use socialloans_contracts::common::{Category, IndicatorLevel, Money, TargetPopulation};
use socialloans_contracts::monitoring::{CategoryImpact, ExportFormat, IndicatorAggregate, PortfolioImpactReport};

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

/// "1234.50" for 123450 öre; exact, never through floating point.
pub fn kronor(money: Option<&Money>) -> String {
    let minor = money.map_or(0, |m| m.minor_units);
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (minor / 100).unsigned_abs(), (minor % 100).unsigned_abs())
}

/// One CSV cell's text. Text a spreadsheet would take for a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and is not a
/// number) is given a leading apostrophe, so that a name typed into the
/// catalogue cannot run in the reader's spreadsheet. Quoting is the CSV
/// writer's.
fn defused(value: String) -> String {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err();
    if formula { format!("'{value}") } else { value }
}

fn label(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn category_label(category: i32) -> String {
    label(Category::try_from(category).unwrap_or_default().as_str_name(), "CATEGORY_")
}

fn population_label(population: i32) -> String {
    label(TargetPopulation::try_from(population).unwrap_or_default().as_str_name(), "TARGET_POPULATION_")
}

/// One CSV row; what a row does not have stays an empty cell.
#[derive(Default)]
struct Line {
    section: &'static str,
    category: String,
    target_group: String,
    sdg_target: String,
    indicator_code: String,
    indicator: String,
    unit: String,
    level: String,
    plan_count: i32,
    counts: Option<[i32; 3]>,
    approved: Option<String>,
    tagged: Option<String>,
    people: Option<(i64, i64)>,
    sums: Option<[f64; 3]>,
    outstanding: Option<String>,
}

impl Line {
    fn cells(self, as_of: &str) -> Vec<String> {
        let text = |v: Option<String>| v.unwrap_or_default();
        let [reporting, improved, reached] = self.counts.map(|c| c.map(|n| n.to_string())).unwrap_or_default();
        let [baseline, latest, target] = self.sums.map(|c| c.map(|n| n.to_string())).unwrap_or_default();
        vec![
            as_of.to_owned(),
            self.section.to_owned(),
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
            text(self.approved),
            text(self.tagged),
            text(self.people.map(|p| p.0.to_string())),
            text(self.people.map(|p| p.1.to_string())),
            baseline,
            latest,
            target,
            text(self.outstanding),
        ]
    }
}

/// The report as CSV: a portfolio row, then per category its total and its
/// indicators, then target groups and SDG targets.
pub fn csv(report: &PortfolioImpactReport) -> String {
    let as_of = report.as_of.as_ref().map(crate::plans::iso).unwrap_or_default();
    let mut lines = vec![Line {
        section: "portfolio",
        plan_count: report.plan_count,
        approved: Some(kronor(report.approved_amount.as_ref())),
        tagged: Some(kronor(report.tagged_loan_amount.as_ref())),
        outstanding: Some(kronor(report.outstanding_loan_amount.as_ref())),
        ..Line::default()
    }];
    for c in &report.by_category {
        let category = category_label(c.category);
        lines.push(Line {
            section: "category",
            category: category.clone(),
            plan_count: c.plan_count,
            approved: Some(kronor(c.approved_amount.as_ref())),
            tagged: Some(kronor(c.tagged_loan_amount.as_ref())),
            outstanding: Some(kronor(c.outstanding_loan_amount.as_ref())),
            ..Line::default()
        });
        lines.extend(c.indicators.iter().map(|i| Line {
            section: "indicator",
            category: category.clone(),
            indicator_code: i.indicator_code.clone(),
            indicator: i.display_name.clone(),
            unit: i.unit.clone(),
            level: label(IndicatorLevel::try_from(i.level).unwrap_or_default().as_str_name(), "INDICATOR_LEVEL_"),
            plan_count: i.plan_count,
            counts: Some([i.reporting_plan_count, i.improved_plan_count, i.target_reached_plan_count]),
            sums: Some([i.baseline_sum, i.latest_sum, i.target_sum]),
            ..Line::default()
        }));
    }
    lines.extend(report.by_target_group.iter().map(|g| Line {
        section: "target_group",
        target_group: population_label(g.population),
        plan_count: g.plan_count,
        approved: Some(kronor(g.approved_amount.as_ref())),
        people: Some((g.estimated_people, g.people_reached)),
        ..Line::default()
    }));
    lines.extend(report.by_sdg.iter().map(|s| Line {
        section: "sdg",
        sdg_target: s.sdg_target.clone(),
        plan_count: s.plan_count,
        approved: Some(kronor(s.approved_amount.as_ref())),
        tagged: Some(kronor(s.tagged_loan_amount.as_ref())),
        ..Line::default()
    }));
    // Writing to memory cannot fail, and every cell is UTF-8 text.
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(CSV_COLUMNS);
    for line in lines {
        let _ = out.write_record(line.cells(&as_of).into_iter().map(defused));
    }
    out.into_inner().ok().and_then(|bytes| String::from_utf8(bytes).ok()).unwrap_or_default()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn category_title(category: i32) -> &'static str {
    match Category::try_from(category).unwrap_or_default() {
        Category::HousingAndResidentialEnvironments => "Housing and residential environments",
        Category::SafetySecurityAndAccessibility => "Safety, security and accessibility",
        Category::HealthEducationSportAndCulture => "Health, education, sport and culture",
        Category::Unspecified => "Other",
    }
}

const WIDTH: i64 = 1140;
const LABEL: i64 = 340;
const BAR: i64 = 500;
const APPROVED: &str = "#1f5f8b";
const TAGGED: &str = "#7fb3d5";
const REACHED: &str = "#2e8b57";
const IMPROVED: &str = "#9acd32";
const NOT_IMPROVED: &str = "#d9d9d9";

/// Million kronor with one decimal, from öre.
fn msek(minor: i64) -> String {
    format!("{:.1}", minor as f64 / 100_000_000.0)
}

/// The report as an SVG chart: approved and tagged amounts per category, and
/// for each catalogue indicator how many reporting plans reached the target,
/// improved on the baseline, or did not.
pub fn svg(report: &PortfolioImpactReport) -> String {
    let as_of = report.as_of.as_ref().map(crate::plans::iso).unwrap_or_default();
    let indicators: Vec<_> =
        report.by_category.iter().flat_map(|c| c.indicators.iter()).filter(|i| i.plan_count > 0).collect();
    let amounts_top = 90;
    let category_rows = report.by_category.len().max(1) as i64;
    let indicators_top = amounts_top + category_rows * 56 + 40;
    let height = indicators_top + 24 + indicators.len().max(1) as i64 * 34 + 70;
    let mut s = String::new();
    heading(&mut s, report, &as_of, height);
    amounts(&mut s, &report.by_category, amounts_top);
    indicator_results(&mut s, &indicators, indicators_top);
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" fill="#999" font-size="11">Catalogue indicators only; each project counted with its latest accepted value. Social Loans monitoring service.</text>"##,
        height - 20
    );
    s.push_str("</svg>\n");
    s
}

fn minor_units(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.minor_units)
}

/// The opening tag, a white background, the title and the portfolio's totals.
fn heading(s: &mut String, report: &PortfolioImpactReport, as_of: &str, height: i64) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="20" y="34" font-size="20" font-weight="bold" fill="#222">Portfolio impact report, {}</text>"##,
        xml(as_of)
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="58" fill="#555">{} projects · approved {} MSEK · tagged loans {} MSEK</text>"##,
        report.plan_count,
        msek(minor_units(report.approved_amount.as_ref())),
        msek(minor_units(report.tagged_loan_amount.as_ref())),
    );
}

/// Amounts per category from `top` down: a heading with its legend, then each
/// category's bars, scaled so that the largest amount fills [`BAR`].
fn amounts(s: &mut String, categories: &[CategoryImpact], top: i64) {
    let max = categories
        .iter()
        .flat_map(|c| [minor_units(c.approved_amount.as_ref()), minor_units(c.tagged_loan_amount.as_ref())])
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#222">Amounts by category (MSEK)</text>"##,
        top
    );
    amounts_legend(s, top);
    if categories.is_empty() {
        let _ = writeln!(s, r##"<text x="{}" y="{}" fill="#777">no projects yet</text>"##, LABEL, top + 30);
    }
    for (n, c) in categories.iter().enumerate() {
        category_bars(s, c, top + 16 + n as i64 * 56, max);
    }
}

/// The amounts' legend on the heading's line: approved, tagged loans.
fn amounts_legend(s: &mut String, top: i64) {
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="12" height="12" fill="{APPROVED}"/><text x="{tx}" y="{ty}" fill="#333">approved</text><rect x="{x2}" y="{y}" width="12" height="12" fill="{TAGGED}"/><text x="{tx2}" y="{ty}" fill="#333">tagged loans</text>"##,
        x = LABEL,
        y = top - 11,
        tx = LABEL + 16,
        ty = top,
        x2 = LABEL + 100,
        tx2 = LABEL + 116,
    );
}

/// One category at `y`: its name and number of projects beside a bar for the
/// approved amount and one for the tagged loans, each `max` long at [`BAR`].
fn category_bars(s: &mut String, c: &CategoryImpact, y: i64, max: i64) {
    let approved = minor_units(c.approved_amount.as_ref());
    let tagged = minor_units(c.tagged_loan_amount.as_ref());
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>"##,
        LABEL - 10,
        y + 20,
        xml(category_title(c.category))
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#777" font-size="11">{} projects</text>"##,
        LABEL - 10,
        y + 36,
        c.plan_count
    );
    for (row, (value, colour)) in [(approved, APPROVED), (tagged, TAGGED)].into_iter().enumerate() {
        let w = (value as f64 / max as f64 * BAR as f64).round() as i64;
        let by = y + row as i64 * 22;
        let _ = writeln!(
            s,
            r##"<rect x="{LABEL}" y="{by}" width="{w}" height="18" fill="{colour}"><title>{} MSEK</title></rect><text x="{}" y="{}" fill="#333">{}</text>"##,
            msek(value),
            LABEL + w + 6,
            by + 14,
            msek(value)
        );
    }
}

/// Indicator results from `top` down: a heading, its legend, then a bar for
/// each indicator.
fn indicator_results(s: &mut String, indicators: &[&IndicatorAggregate], top: i64) {
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#222">Indicator results of reporting projects</text>"##,
        top
    );
    results_legend(s, top);
    let top = top + 24;
    if indicators.is_empty() {
        let _ = writeln!(s, r##"<text x="{}" y="{}" fill="#777">no indicators yet</text>"##, LABEL, top + 30);
    }
    for (n, i) in indicators.iter().enumerate() {
        indicator_bar(s, i, top + 16 + n as i64 * 34);
    }
}

/// The results' legend below their heading: target reached, improved, not improved.
fn results_legend(s: &mut String, top: i64) {
    let legend = [(REACHED, "target reached"), (IMPROVED, "improved on baseline"), (NOT_IMPROVED, "not improved")];
    for (n, (colour, text)) in legend.iter().enumerate() {
        let x = LABEL + n as i64 * 170;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{}" fill="#333">{text}</text>"##,
            top + 13,
            x + 16,
            top + 24
        );
    }
}

/// An indicator's reporting plans as `[reached, improved, not improved]`: a
/// plan at its target counts as reached only, and the counts, clamped to the
/// reporting plans, never add up to more than those.
fn outcome_split(i: &IndicatorAggregate) -> [i64; 3] {
    let reporting = i64::from(i.reporting_plan_count);
    let reached = i64::from(i.target_reached_plan_count).min(reporting);
    let improved = (i64::from(i.improved_plan_count).max(reached) - reached).min(reporting - reached);
    [reached, improved, reporting - reached - improved]
}

/// One indicator at `y`: its name, a bar of its reporting plans split by
/// outcome (an empty frame when none reports), and the counts in words.
fn indicator_bar(s: &mut String, i: &IndicatorAggregate, y: i64) {
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>"##,
        LABEL - 10,
        y + 15,
        xml(&i.display_name)
    );
    let reporting = i64::from(i.reporting_plan_count);
    let [reached, improved, rest] = outcome_split(i);
    let mut x = LABEL;
    for (value, colour) in [(reached, REACHED), (improved, IMPROVED), (rest, NOT_IMPROVED)] {
        if reporting == 0 || value == 0 {
            continue;
        }
        let w = (value as f64 / reporting as f64 * BAR as f64).round() as i64;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="{y}" width="{w}" height="20" fill="{colour}"><title>{value} of {reporting}</title></rect>"##
        );
        x += w;
    }
    if reporting == 0 {
        let _ = writeln!(s, r##"<rect x="{LABEL}" y="{y}" width="{BAR}" height="20" fill="none" stroke="#ccc"/>"##);
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" fill="#333" font-size="11">{} of {} improved, {reached} at target</text>"##,
        LABEL + BAR + 8,
        y + 15,
        reached + improved,
        reporting,
    );
}

/// The report as a file in `format` (SVG; anything else CSV), named for the
/// day `day` it is as of: its media type, file name and content.
pub fn file(report: &PortfolioImpactReport, format: i32, day: chrono::NaiveDate) -> (&'static str, String, String) {
    let day = day.format("%Y-%m-%d");
    match ExportFormat::try_from(format) {
        Ok(ExportFormat::Svg) => ("image/svg+xml", format!("portfolio-impact-{day}.svg"), svg(report)),
        _ => ("text/csv; charset=utf-8", format!("portfolio-impact-{day}.csv"), csv(report)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn one_indicator(category: CategoryImpact, indicator: IndicatorAggregate) -> PortfolioImpactReport {
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
        let text = csv(&report);
        assert!(text.contains(r#","Homes, ""renovated""","#), "{text}");
        assert!(text.contains(",'=cmd|' /C calc'!A0,"), "a formula is defused: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].split(',').count(), CSV_COLUMNS.len());
        assert_eq!(lines[2].split(',').count(), CSV_COLUMNS.len());
    }

    #[test]
    fn the_chart_escapes_names_and_draws_a_bar_per_category_amount() {
        let report = one_indicator(
            CategoryImpact {
                category: Category::SafetySecurityAndAccessibility as i32,
                approved_amount: Some(Money { currency_code: "SEK".into(), minor_units: 7_500_000_000 }),
                ..Default::default()
            },
            IndicatorAggregate {
                display_name: "A < B".into(),
                plan_count: 2,
                reporting_plan_count: 2,
                target_reached_plan_count: 1,
                improved_plan_count: 1,
                ..Default::default()
            },
        );
        let chart = svg(&report);
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert!(chart.contains("A &lt; B") && !chart.contains("A < B"));
        assert!(chart.contains(&format!(r#"width="{BAR}" height="18" fill="{APPROVED}""#)), "the largest bar is full");
        assert!(chart.contains("<title>1 of 2</title>"));
    }

    #[test]
    fn an_indicator_s_reporting_plans_are_split_into_reached_improved_and_the_rest_counting_each_once() {
        let split = |reporting, improved, reached| {
            outcome_split(&IndicatorAggregate {
                reporting_plan_count: reporting,
                improved_plan_count: improved,
                target_reached_plan_count: reached,
                ..Default::default()
            })
        };
        assert_eq!(split(5, 3, 1), [1, 2, 2]);
        assert_eq!(split(4, 1, 2), [2, 0, 2], "a plan at its target is not counted as improved as well");
        assert_eq!(split(3, 9, 1), [1, 2, 0], "never more than report");
        assert_eq!(split(2, 9, 7), [2, 0, 0]);
        assert_eq!(split(0, 0, 0), [0, 0, 0]);
    }

    #[test]
    fn the_chart_draws_an_indicator_as_its_name_a_bar_split_by_outcome_and_the_counts_in_words() {
        let jobs = IndicatorAggregate {
            display_name: "Jobs".into(),
            plan_count: 4,
            reporting_plan_count: 4,
            improved_plan_count: 3,
            target_reached_plan_count: 1,
            ..Default::default()
        };
        let report = one_indicator(CategoryImpact::default(), jobs);
        let chart = svg(&report);
        let row: Vec<&str> = chart.lines().skip_while(|l| !l.ends_with(">Jobs</text>")).take(5).collect();
        assert_eq!(
            row,
            [
                r##"<text x="330" y="241" text-anchor="end" fill="#222">Jobs</text>"##,
                r##"<rect x="340" y="226" width="125" height="20" fill="#2e8b57"><title>1 of 4</title></rect>"##,
                r##"<rect x="465" y="226" width="250" height="20" fill="#9acd32"><title>2 of 4</title></rect>"##,
                r##"<rect x="715" y="226" width="125" height="20" fill="#d9d9d9"><title>1 of 4</title></rect>"##,
                r##"<text x="848" y="241" fill="#333" font-size="11">3 of 4 improved, 1 at target</text>"##,
            ]
        );
    }

    #[test]
    fn an_svg_export_is_an_svg_file_and_any_other_format_a_csv_named_for_its_day() {
        let report = PortfolioImpactReport::default();
        let day = chrono::NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        let (media, name, content) = file(&report, ExportFormat::Svg as i32, day);
        assert_eq!((media, name.as_str()), ("image/svg+xml", "portfolio-impact-2027-03-31.svg"));
        assert!(content.starts_with("<svg "), "{content}");
        let (media, name, content) = file(&report, ExportFormat::Csv as i32, day);
        assert_eq!((media, name.as_str()), ("text/csv; charset=utf-8", "portfolio-impact-2027-03-31.csv"));
        assert_eq!(content, csv(&report));
    }
}
