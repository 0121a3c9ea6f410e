//! The portfolio impact report as an SVG chart: approved and tagged amounts
//! per category, and for each catalogue indicator how many reporting plans
//! reached the target, improved on the baseline, or did not; in English or
//! Swedish.

use std::fmt::Write;

use socialloans_contracts::common::{Category, Money};
use socialloans_contracts::monitoring::{CategoryImpact, IndicatorAggregate, PortfolioImpactReport};
use socialloans_documents::{Language, names::pick};

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn category_title(category: i32, language: Language) -> &'static str {
    match Category::try_from(category).unwrap_or_default() {
        Category::Unspecified => pick(language, "Övrigt", "Other"),
        category => socialloans_documents::names::category(category, language),
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

/// Million kronor with one decimal, from öre: `12.5` (Swedish `12,5`).
fn msek(minor: i64, language: Language) -> String {
    socialloans_documents::numbers::number(minor as f64 / 100_000_000.0, 1, language)
}

/// The report as an SVG chart: approved and tagged amounts per category, and
/// for each catalogue indicator how many reporting plans reached the target,
/// improved on the baseline, or did not.
pub fn svg(report: &PortfolioImpactReport, language: Language) -> String {
    let as_of = report.as_of.as_ref().map(crate::plans::iso).unwrap_or_default();
    let indicators: Vec<_> =
        report.by_category.iter().flat_map(|c| c.indicators.iter()).filter(|i| i.plan_count > 0).collect();
    let amounts_top = 90;
    let category_rows = report.by_category.len().max(1) as i64;
    let indicators_top = amounts_top + category_rows * 56 + 40;
    let height = indicators_top + 24 + indicators.len().max(1) as i64 * 34 + 70;
    let mut s = String::new();
    heading(&mut s, report, &as_of, height, language);
    amounts(&mut s, &report.by_category, amounts_top, language);
    indicator_results(&mut s, &indicators, indicators_top, language);
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" fill="#999" font-size="11">{}</text>"##,
        height - 20,
        pick(
            language,
            "Endast katalogens indikatorer; varje projekt räknas med sitt senast godkända värde. Social Loans uppföljning.",
            "Catalogue indicators only; each project counted with its latest accepted value. Social Loans monitoring service."
        )
    );
    s.push_str("</svg>\n");
    s
}

fn minor_units(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.minor_units)
}

/// The opening tag, a white background, the title and the portfolio's totals.
fn heading(s: &mut String, report: &PortfolioImpactReport, as_of: &str, height: i64, language: Language) {
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="20" y="34" font-size="20" font-weight="bold" fill="#222">{}, {}</text>"##,
        pick(language, "Portföljens sociala effekter", "Portfolio impact report"),
        xml(as_of)
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="58" fill="#555">{} {} · {} {} {m} · {} {} {m}</text>"##,
        report.plan_count,
        pick(language, "projekt", "projects"),
        pick(language, "beviljat", "approved"),
        msek(minor_units(report.approved_amount.as_ref()), language),
        pick(language, "märkta lån", "tagged loans"),
        msek(minor_units(report.tagged_loan_amount.as_ref()), language),
        m = pick(language, "mkr", "MSEK"),
    );
}

/// Amounts per category from `top` down: a heading with its legend, then each
/// category's bars, scaled so that the largest amount fills [`BAR`].
fn amounts(s: &mut String, categories: &[CategoryImpact], top: i64, language: Language) {
    let max = categories
        .iter()
        .flat_map(|c| [minor_units(c.approved_amount.as_ref()), minor_units(c.tagged_loan_amount.as_ref())])
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        top,
        pick(language, "Belopp per kategori (mkr)", "Amounts by category (MSEK)")
    );
    amounts_legend(s, top, language);
    if categories.is_empty() {
        let none = pick(language, "inga projekt ännu", "no projects yet");
        let _ = writeln!(s, r##"<text x="{}" y="{}" fill="#777">{none}</text>"##, LABEL, top + 30);
    }
    for (n, c) in categories.iter().enumerate() {
        category_bars(s, c, top + 16 + n as i64 * 56, max, language);
    }
}

/// The amounts' legend on the heading's line: approved, tagged loans.
fn amounts_legend(s: &mut String, top: i64, language: Language) {
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="12" height="12" fill="{APPROVED}"/><text x="{tx}" y="{ty}" fill="#333">{approved}</text><rect x="{x2}" y="{y}" width="12" height="12" fill="{TAGGED}"/><text x="{tx2}" y="{ty}" fill="#333">{tagged}</text>"##,
        approved = pick(language, "beviljat", "approved"),
        tagged = pick(language, "märkta lån", "tagged loans"),
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
fn category_bars(s: &mut String, c: &CategoryImpact, y: i64, max: i64, language: Language) {
    let approved = minor_units(c.approved_amount.as_ref());
    let tagged = minor_units(c.tagged_loan_amount.as_ref());
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>"##,
        LABEL - 10,
        y + 20,
        xml(category_title(c.category, language))
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#777" font-size="11">{} {}</text>"##,
        LABEL - 10,
        y + 36,
        c.plan_count,
        pick(language, "projekt", "projects")
    );
    for (row, (value, colour)) in [(approved, APPROVED), (tagged, TAGGED)].into_iter().enumerate() {
        let w = (value as f64 / max as f64 * BAR as f64).round() as i64;
        let by = y + row as i64 * 22;
        let _ = writeln!(
            s,
            r##"<rect x="{LABEL}" y="{by}" width="{w}" height="18" fill="{colour}"><title>{} {m}</title></rect><text x="{}" y="{}" fill="#333">{}</text>"##,
            msek(value, language),
            LABEL + w + 6,
            by + 14,
            msek(value, language),
            m = pick(language, "mkr", "MSEK"),
        );
    }
}

/// Indicator results from `top` down: a heading, its legend, then a bar for
/// each indicator.
fn indicator_results(s: &mut String, indicators: &[&IndicatorAggregate], top: i64, language: Language) {
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        top,
        pick(language, "Indikatorresultat för rapporterande projekt", "Indicator results of reporting projects")
    );
    results_legend(s, top, language);
    let top = top + 24;
    if indicators.is_empty() {
        let none = pick(language, "inga indikatorer ännu", "no indicators yet");
        let _ = writeln!(s, r##"<text x="{}" y="{}" fill="#777">{none}</text>"##, LABEL, top + 30);
    }
    for (n, i) in indicators.iter().enumerate() {
        indicator_bar(s, i, top + 16 + n as i64 * 34, language);
    }
}

/// The results' legend below their heading: target reached, improved, not improved.
fn results_legend(s: &mut String, top: i64, language: Language) {
    let legend = [
        (REACHED, pick(language, "målet nått", "target reached")),
        (IMPROVED, pick(language, "bättre än utgångsläget", "improved on baseline")),
        (NOT_IMPROVED, pick(language, "inte förbättrat", "not improved")),
    ];
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
fn indicator_bar(s: &mut String, i: &IndicatorAggregate, y: i64, language: Language) {
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#222">{}</text>"##,
        LABEL - 10,
        y + 15,
        xml(indicator_name(i, language))
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
            r##"<rect x="{x}" y="{y}" width="{w}" height="20" fill="{colour}"><title>{value} {of} {reporting}</title></rect>"##,
            of = pick(language, "av", "of"),
        );
        x += w;
    }
    if reporting == 0 {
        let _ = writeln!(s, r##"<rect x="{LABEL}" y="{y}" width="{BAR}" height="20" fill="none" stroke="#ccc"/>"##);
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" fill="#333" font-size="11">{}</text>"##,
        LABEL + BAR + 8,
        y + 15,
        match language {
            Language::Swedish => format!("{} av {reporting} förbättrade, {reached} nådde målet", reached + improved),
            Language::English => format!("{} of {reporting} improved, {reached} at target", reached + improved),
        }
    );
}

/// The indicator's name for a reader of `language`.
pub fn indicator_name(i: &IndicatorAggregate, language: Language) -> &str {
    match language {
        Language::Swedish if !i.swedish_display_name.is_empty() => &i.swedish_display_name,
        _ => &i.display_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::one_indicator;

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
        let chart = svg(&report, Language::English);
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
        let chart = svg(&report, Language::English);
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
    fn the_swedish_chart_speaks_swedish() {
        let report = one_indicator(
            CategoryImpact {
                category: Category::SafetySecurityAndAccessibility as i32,
                approved_amount: Some(Money { currency_code: "SEK".into(), minor_units: 7_550_000_000 }),
                ..Default::default()
            },
            IndicatorAggregate {
                display_name: "Jobs".into(),
                swedish_display_name: "Arbetstillfällen".into(),
                plan_count: 1,
                reporting_plan_count: 1,
                improved_plan_count: 1,
                ..Default::default()
            },
        );
        let chart = svg(&report, Language::Swedish);
        for text in [
            "Portföljens sociala effekter",
            "Trygghet, säkerhet och tillgänglighet",
            ">75,5</text>",
            "Arbetstillfällen",
            "1 av 1 förbättrade, 0 nådde målet",
        ] {
            assert!(chart.contains(text), "{text} in {chart}");
        }
        assert!(!chart.contains("Jobs") && !chart.contains("MSEK"));
    }
}
