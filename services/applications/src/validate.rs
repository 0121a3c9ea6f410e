//! Checks on an application's content: the shape of every field given
//! ([`content`]), and, at submission, that everything the five basic
//! requirements need is there ([`completeness`]). Both report every problem
//! at once, each naming its field.

use socialloans_contracts::applications::{
    Application, ContactPerson, Investment, InvestmentSchedule, OrganizationType,
};
use socialloans_contracts::common::{Category, Date, IndicatorDirection, IndicatorLevel, Money, TargetPopulation};
use socialloans_platform::error::FieldViolation;

use crate::orgnr;

/// Longest short text (names, titles), in characters.
pub const SHORT_TEXT: usize = 200;
/// Longest free text, in characters.
pub const LONG_TEXT: usize = 10_000;
/// Comments, messages and reasons, in characters.
pub const COMMENT_TEXT: usize = 4_000;
/// Most items in any list.
pub const MAX_ITEMS: usize = 50;
/// Largest amount accepted: SEK 100 billion, in öre. Anything above is a typo.
pub const MAX_MINOR_UNITS: i64 = 10_000_000_000_000;
/// Largest target group: more people than live in the Nordic countries.
pub const MAX_POPULATION: i64 = 100_000_000;
/// Largest magnitude of an indicator's baseline or target.
pub const MAX_VALUE: f64 = 1e12;

struct Check {
    prefix: &'static str,
    violations: Vec<FieldViolation>,
}

impl Check {
    fn add(&mut self, field: impl AsRef<str>, description: impl Into<String>) {
        self.violations.push(FieldViolation::new(format!("{}{}", self.prefix, field.as_ref()), description));
    }

    fn text(&mut self, field: impl AsRef<str>, value: &str, max: usize) {
        let len = value.chars().count();
        if len > max {
            self.add(field, format!("is {len} characters long; at most {max}"));
        } else if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            self.add(field, "contains control characters");
        }
    }

    /// Whether a list of `len` is within [`MAX_ITEMS`]; a longer one is
    /// refused as a whole, its items unread (a huge list costs nothing).
    /// A violation of `field` when something `missing` is required.
    fn need(&mut self, missing: bool, field: &str, why: &str) {
        if missing {
            self.add(field, why);
        }
    }

    fn items(&mut self, field: &str, len: usize) -> bool {
        if len > MAX_ITEMS {
            self.add(field, format!("has {len} items; at most {MAX_ITEMS}"));
            return false;
        }
        true
    }

    fn value(&mut self, field: impl AsRef<str>, value: f64) {
        if !value.is_finite() {
            self.add(field, "must be a finite number");
        } else if value.abs() > MAX_VALUE {
            self.add(field, "is out of range: at most 10^12 in magnitude");
        }
    }

    fn money(&mut self, field: &str, money: &Option<Money>) {
        let Some(money) = money else { return };
        if money.currency_code != "SEK" {
            self.add(format!("{field}.currency_code"), "must be SEK");
        }
        if money.minor_units <= 0 {
            self.add(format!("{field}.minor_units"), "must be positive");
        } else if money.minor_units > MAX_MINOR_UNITS {
            self.add(format!("{field}.minor_units"), "is absurdly large (above SEK 100 billion)");
        }
    }

    fn date(&mut self, field: &str, date: &Option<Date>) {
        let Some(d) = date else { return };
        let valid = (1900..=2200).contains(&d.year)
            && chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32).is_some();
        if !valid {
            self.add(field, "is not a valid calendar date between 1900 and 2200");
        }
    }

    fn known<E: TryFrom<i32>>(&mut self, field: &str, value: i32) {
        if E::try_from(value).is_err() {
            self.add(field, format!("{value} is not a known value"));
        }
    }
}

/// A date as (year, month, day), for ordering.
fn day(date: &Option<Date>) -> Option<(i32, i32, i32)> {
    date.as_ref().map(|d| (d.year, d.month, d.day))
}

fn minor(money: &Option<Money>) -> Option<i64> {
    money.as_ref().map(|m| m.minor_units)
}

/// An SDG target such as `11.1` or `4.a`: goal 1–17, then a target.
fn sdg_target(target: &str) -> bool {
    let Some((goal, rest)) = target.split_once('.') else { return false };
    goal.parse::<u8>().is_ok_and(|g| (1..=17).contains(&g))
        && !rest.is_empty()
        && rest.len() <= 2
        && rest.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

/// Whether `path` (already known to name a field of an application) stays
/// within the application's lists: `objectives[3]` needs four objectives.
pub fn path_within(app: &Application, path: &str) -> bool {
    let index_of = |segment: &str| {
        segment.split_once('[').map(|(_, i)| i.trim_end_matches(']').parse::<usize>().unwrap_or(usize::MAX))
    };
    let investment = app.investment.as_ref();
    let segments: Vec<&str> = path.split('.').collect();
    // The lists inside the investment.
    if let ["investment", "schedule", milestones, ..] = segments.as_slice()
        && let Some(i) = index_of(milestones)
    {
        return i < investment.and_then(|v| v.schedule.as_ref()).map_or(0, |s| s.milestones.len());
    }
    if let ["investment", designations, ..] = segments.as_slice()
        && let Some(i) = index_of(designations)
    {
        return i < investment.map_or(0, |v| v.property_designations.len());
    }
    socialloans_platform::limits::within_lists(path, |list| match list {
        "target_groups" => app.target_groups.len(),
        "interventions" => app.interventions.len(),
        "objectives" => app.objectives.len(),
        "indicators" => app.indicators.len(),
        "sdg_targets" => app.sdg_targets.len(),
        "attachments" => app.attachments.len(),
        "completion_comments" => app.completion_comments.len(),
        "loans" => app.loans.len(),
        "conditions" => app.conditions.len(),
        _ => usize::MAX,
    })
}

/// Shape checks of everything present in `app` (nothing is required here).
pub fn content(app: &Application, prefix: &'static str) -> Vec<FieldViolation> {
    let mut c = Check { prefix, violations: Vec::new() };
    if let Some(borrower) = &app.borrower {
        if let Err(why) = orgnr::check(&borrower.organization_number) {
            c.add("borrower.organization_number", why);
        }
        c.text("borrower.display_name", &borrower.display_name, SHORT_TEXT);
        c.known::<OrganizationType>("borrower.type", borrower.r#type);
    }
    c.known::<Category>("category", app.category);
    c.text("title", &app.title, SHORT_TEXT);
    if let Some(inv) = &app.investment {
        investment(&mut c, inv);
    }
    c.text("social_challenge", &app.social_challenge, LONG_TEXT);
    plans(&mut c, app);
    c.text("intended_future_state", &app.intended_future_state, LONG_TEXT);
    indicators(&mut c, app);
    sdg_targets(&mut c, app);
    c.money("requested_amount", &app.requested_amount);
    if let (Some(requested), Some(total)) =
        (minor(&app.requested_amount), app.investment.as_ref().and_then(|i| minor(&i.total_amount)))
        && requested > total
    {
        c.add("requested_amount", "exceeds the investment's total amount");
    }
    if let Some(person) = &app.contact_person {
        contact(&mut c, person);
    }
    attachments(&mut c, app);
    if let Some(r) = &app.requirement_statements {
        c.text("requirement_statements.practice_development", &r.practice_development, LONG_TEXT);
        c.text("requirement_statements.systematic_work", &r.systematic_work, LONG_TEXT);
        c.text("requirement_statements.long_term_perspective", &r.long_term_perspective, LONG_TEXT);
        c.text("requirement_statements.evaluation_approach", &r.evaluation_approach, LONG_TEXT);
    }
    c.violations
}

/// The investment's texts, amounts, municipality and schedule.
fn investment(c: &mut Check, inv: &Investment) {
    c.text("investment.description", &inv.description, LONG_TEXT);
    c.money("investment.total_amount", &inv.total_amount);
    c.money("investment.spent_amount", &inv.spent_amount);
    c.text("investment.municipality", &inv.municipality, SHORT_TEXT);
    c.text("investment.district", &inv.district, SHORT_TEXT);
    let code = &inv.municipality_code;
    if !(code.is_empty() || code.len() == 4 && code.chars().all(|ch| ch.is_ascii_digit())) {
        c.add("investment.municipality_code", "must be the four-digit municipality code");
    }
    if c.items("investment.property_designations", inv.property_designations.len()) {
        for (i, d) in inv.property_designations.iter().enumerate() {
            c.text(format!("investment.property_designations[{i}]"), d, SHORT_TEXT);
        }
    }
    if let Some(schedule) = &inv.schedule {
        schedule_of(c, schedule);
    }
    if let (Some(total), Some(spent)) = (minor(&inv.total_amount), minor(&inv.spent_amount))
        && spent > total
    {
        c.add("investment.spent_amount", "exceeds the investment's total amount");
    }
}

/// The schedule's dates, in order.
fn schedule_of(c: &mut Check, schedule: &InvestmentSchedule) {
    c.date("investment.schedule.start_date", &schedule.start_date);
    c.date("investment.schedule.completion_date", &schedule.completion_date);
    let milestones = if c.items("investment.schedule.milestones", schedule.milestones.len()) {
        schedule.milestones.as_slice()
    } else {
        &[]
    };
    for (i, m) in milestones.iter().enumerate() {
        c.text(format!("investment.schedule.milestones[{i}].description"), &m.description, SHORT_TEXT);
        c.date(&format!("investment.schedule.milestones[{i}].date"), &m.date);
        if let (Some(this), Some(before)) =
            (day(&m.date), i.checked_sub(1).and_then(|j| day(&schedule.milestones[j].date)))
            && this < before
        {
            c.add(format!("investment.schedule.milestones[{i}].date"), "milestones come in chronological order");
        }
    }
    if let (Some(start), Some(done)) = (day(&schedule.start_date), day(&schedule.completion_date))
        && done < start
    {
        c.add("investment.schedule.completion_date", "is before the start date");
    }
}

/// Target groups, interventions and objectives.
fn plans(c: &mut Check, app: &Application) {
    let target_groups =
        if c.items("target_groups", app.target_groups.len()) { app.target_groups.as_slice() } else { &[] };
    for (i, g) in target_groups.iter().enumerate() {
        c.known::<TargetPopulation>(&format!("target_groups[{i}].population"), g.population);
        c.text(format!("target_groups[{i}].description"), &g.description, LONG_TEXT);
        if !(0..=MAX_POPULATION).contains(&g.estimated_size) {
            c.add(format!("target_groups[{i}].estimated_size"), "must be between 0 and 100 million people");
        }
    }
    let interventions =
        if c.items("interventions", app.interventions.len()) { app.interventions.as_slice() } else { &[] };
    for (i, iv) in interventions.iter().enumerate() {
        c.text(format!("interventions[{i}].title"), &iv.title, SHORT_TEXT);
        c.text(format!("interventions[{i}].description"), &iv.description, LONG_TEXT);
        c.date(&format!("interventions[{i}].start_date"), &iv.start_date);
        c.date(&format!("interventions[{i}].end_date"), &iv.end_date);
    }
    let objectives = if c.items("objectives", app.objectives.len()) { app.objectives.as_slice() } else { &[] };
    for (i, o) in objectives.iter().enumerate() {
        let key_ok = o.key.len() <= 20 && o.key.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !key_ok {
            c.add(format!("objectives[{i}].key"), "is 1..20 of [A-Za-z0-9_-], e.g. O1");
        } else if !o.key.is_empty() && app.objectives[..i].iter().any(|earlier| earlier.key == o.key) {
            c.add(format!("objectives[{i}].key"), format!("{:?} is used by another objective", o.key));
        }
        c.text(format!("objectives[{i}].description"), &o.description, LONG_TEXT);
        c.text(format!("objectives[{i}].change_sought"), &o.change_sought, LONG_TEXT);
    }
}

/// Each indicator: its code, objective, classification, baseline and target.
fn indicators(c: &mut Check, app: &Application) {
    // Too many objectives were reported by `plans`; an indicator then names none.
    let objectives = if app.objectives.len() <= MAX_ITEMS { app.objectives.as_slice() } else { &[] };
    let indicators = if c.items("indicators", app.indicators.len()) { app.indicators.as_slice() } else { &[] };
    for (i, ind) in indicators.iter().enumerate() {
        let at = |f: &str| format!("indicators[{i}].{f}");
        let code = &ind.code;
        let snake = (2..=63).contains(&code.len())
            && code.starts_with(|ch: char| ch.is_ascii_lowercase())
            && code.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !(code.is_empty() || snake) {
            c.add(at("code"), "must be lower_snake_case, 2..63 characters");
        } else if !code.is_empty() && app.indicators[..i].iter().any(|earlier| &earlier.code == code) {
            c.add(at("code"), format!("{code:?} is used by another indicator"));
        }
        if !ind.objective_key.is_empty() && !objectives.iter().any(|o| o.key == ind.objective_key) {
            c.add(at("objective_key"), format!("{:?} is the key of no objective", ind.objective_key));
        }
        c.text(at("display_name"), &ind.display_name, SHORT_TEXT);
        c.text(at("unit"), &ind.unit, 64);
        c.known::<IndicatorDirection>(&at("direction"), ind.direction);
        c.known::<IndicatorLevel>(&at("level"), ind.level);
        c.text(at("method"), &ind.method, LONG_TEXT);
        if let Some(b) = &ind.baseline {
            c.value(at("baseline.value"), b.value);
            c.date(&at("baseline.date"), &b.date);
            c.text(at("baseline.source"), &b.source, SHORT_TEXT);
        }
        if let Some(t) = &ind.target {
            c.value(at("target.value"), t.value);
            c.date(&at("target.date"), &t.date);
            if let Some(b) = &ind.baseline {
                if t.value == b.value {
                    c.add(at("target.value"), "must differ from the baseline: a target is a change");
                }
                if let (Some(from), Some(to)) = (day(&b.date), day(&t.date))
                    && to <= from
                {
                    c.add(at("target.date"), "must be after the baseline date");
                }
            }
        }
    }
}

/// Agenda 2030 targets, each once.
fn sdg_targets(c: &mut Check, app: &Application) {
    let sdg_targets = if c.items("sdg_targets", app.sdg_targets.len()) { app.sdg_targets.as_slice() } else { &[] };
    for (i, t) in sdg_targets.iter().enumerate() {
        if !sdg_target(t) {
            c.add(format!("sdg_targets[{i}]"), format!("{t:?} is not an Agenda 2030 target such as 11.1 or 4.a"));
        } else if app.sdg_targets[..i].contains(t) {
            c.add(format!("sdg_targets[{i}]"), format!("{t:?} is listed twice"));
        }
    }
}

/// Attachments, by the platform's limits.
fn attachments(c: &mut Check, app: &Application) {
    let attachments = if c.items("attachments", app.attachments.len()) { app.attachments.as_slice() } else { &[] };
    for (i, a) in attachments.iter().enumerate() {
        let at = format!("{}attachments[{i}]", c.prefix);
        c.violations.extend(socialloans_platform::limits::attachment(&at, a));
    }
}

fn contact(c: &mut Check, person: &ContactPerson) {
    c.text("contact_person.name", &person.name, SHORT_TEXT);
    c.text("contact_person.job_title", &person.job_title, SHORT_TEXT);
    c.text("contact_person.phone", &person.phone, 32);
    let email = &person.email;
    if !email.is_empty() {
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !email.contains(char::is_whitespace)
            });
        if !valid {
            c.add("contact_person.email", "is not an e-mail address");
        }
    }
}

/// What submission needs: the evidence the committee examines for the five
/// basic requirements, and what a loan needs. Every gap at once.
pub fn completeness(app: &Application) -> Vec<FieldViolation> {
    let mut c = Check { prefix: "application.", violations: Vec::new() };
    let borrower = app.borrower.clone().unwrap_or_default();
    c.need(borrower.display_name.trim().is_empty(), "borrower.display_name", "is required");
    c.need(borrower.r#type == 0, "borrower.type", "is required");
    c.need(app.category == 0, "category", "is required: one of the three categories");
    c.need(app.title.trim().is_empty(), "title", "is required");
    let inv = app.investment.clone().unwrap_or_default();
    c.need(inv.description.trim().is_empty(), "investment.description", "is required: the physical investment");
    c.need(inv.total_amount.is_none(), "investment.total_amount", "is required");
    c.need(inv.municipality.trim().is_empty(), "investment.municipality", "is required");
    c.need(inv.municipality_code.is_empty(), "investment.municipality_code", "is required: the four-digit code");
    c.need(inv.district.trim().is_empty(), "investment.district", "is required");
    let schedule = inv.schedule.clone().unwrap_or_default();
    c.need(schedule.start_date.is_none(), "investment.schedule.start_date", "is required");
    c.need(schedule.completion_date.is_none(), "investment.schedule.completion_date", "is required");
    c.need(app.social_challenge.trim().is_empty(), "social_challenge", "is required: the social need or challenge");
    c.need(
        app.target_groups.is_empty()
            || app.target_groups.iter().any(|g| g.description.trim().is_empty() || g.population == 0),
        "target_groups",
        "requirement 3: at least one target group, each with its population and described",
    );
    c.need(
        app.interventions.is_empty()
            || app.interventions.iter().any(|iv| iv.title.trim().is_empty() || iv.description.trim().is_empty()),
        "interventions",
        "is required: at least one intervention, each with a title and a description",
    );
    c.need(
        app.objectives.is_empty()
            || app
                .objectives
                .iter()
                .any(|o| o.key.is_empty() || o.description.trim().is_empty() || o.change_sought.trim().is_empty()),
        "objectives",
        "requirement 5: at least one objective, each with a key, a description and the change sought",
    );
    c.need(app.intended_future_state.trim().is_empty(), "intended_future_state", "is required");
    indicators_complete(&mut c, app);
    c.need(app.sdg_targets.is_empty(), "sdg_targets", "is required: at least one Agenda 2030 target");
    c.need(app.requested_amount.is_none(), "requested_amount", "is required");
    statements_complete(&mut c, app);
    let person = app.contact_person.clone().unwrap_or_default();
    c.need(
        !person.erased && (person.name.trim().is_empty() || person.email.is_empty()),
        "contact_person",
        "a contact person with name and e-mail is required",
    );
    c.violations
}

/// Requirement 5's indicators: one measurable, one of level OUTCOME, and
/// each complete.
fn indicators_complete(c: &mut Check, app: &Application) {
    let measurable = app.indicators.iter().any(|i| {
        i.baseline.as_ref().is_some_and(|b| b.date.is_some() && !b.source.trim().is_empty())
            && i.target.as_ref().is_some_and(|t| t.date.is_some())
    });
    c.need(
        !measurable,
        "indicators",
        "requirement 5: at least one indicator with a baseline (value, date, source) and a target (value, date)",
    );
    c.need(
        !app.indicators.iter().any(|i| i.level == IndicatorLevel::Outcome as i32),
        "indicators",
        "requirement 5: at least one indicator of level OUTCOME (the change for the target group)",
    );
    for (n, i) in app.indicators.iter().enumerate() {
        let missing: Vec<&str> = [
            (i.code.is_empty(), "code"),
            (i.display_name.trim().is_empty(), "display_name"),
            (i.unit.trim().is_empty(), "unit"),
            (i.direction == 0, "direction"),
            (i.level == 0, "level"),
            (i.objective_key.is_empty(), "objective_key"),
            (i.baseline.as_ref().is_none_or(|b| b.date.is_none() || b.source.trim().is_empty()), "baseline"),
            (i.target.as_ref().is_none_or(|t| t.date.is_none()), "target"),
            (i.method.trim().is_empty(), "method"),
        ]
        .into_iter()
        .filter_map(|(missing, field)| missing.then_some(field))
        .collect();
        c.need(
            !missing.is_empty(),
            &format!("indicators[{n}]"),
            &format!("is incomplete: {} required", missing.join(", ")),
        );
    }
}

/// The borrower's statements on requirements 1, 2, 4 and 5.
fn statements_complete(c: &mut Check, app: &Application) {
    let statements = app.requirement_statements.clone().unwrap_or_default();
    for (statement, field, what) in [
        (
            &statements.practice_development,
            "practice_development",
            "requirement 1: how the project develops practice, innovation or quality",
        ),
        (
            &statements.systematic_work,
            "systematic_work",
            "requirement 2: how the project is part of the borrower's systematic social-sustainability work",
        ),
        (&statements.long_term_perspective, "long_term_perspective", "requirement 4: why the project is long-term"),
        (
            &statements.evaluation_approach,
            "evaluation_approach",
            "requirement 5: how results will be evaluated systematically",
        ),
    ] {
        c.need(statement.trim().is_empty(), &format!("requirement_statements.{field}"), what);
    }
}

/// Whether `text` repeats the contact person: the name, the e-mail address
/// or its local part, or the phone number's digits however they are spaced.
pub fn repeats_contact(text: &str, contact: &ContactPerson) -> bool {
    let lowered = text.to_lowercase();
    let local = contact.email.split('@').next().unwrap_or_default();
    if [contact.name.as_str(), contact.email.as_str(), local]
        .iter()
        .any(|w| w.chars().count() >= 3 && lowered.contains(&w.to_lowercase()))
    {
        return true;
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let phone = digits(&contact.phone);
    phone.len() >= 7 && digits(text).contains(&phone[phone.len() - 7..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use socialloans_contracts::applications::{Borrower, Investment};

    fn sek(minor_units: i64) -> Option<Money> {
        Some(Money { currency_code: "SEK".into(), minor_units })
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let app = Application {
            borrower: Some(Borrower { organization_number: "212000-0143".into(), ..Default::default() }),
            category: 9,
            title: "x".repeat(SHORT_TEXT + 1),
            investment: Some(Investment { total_amount: sek(100), ..Default::default() }),
            requested_amount: sek(200),
            sdg_targets: vec!["18.1".into(), "11.1".into()],
            ..Default::default()
        };
        let fields: Vec<String> = content(&app, "application.").into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "application.borrower.organization_number",
                "application.category",
                "application.title",
                "application.sdg_targets[0]",
                "application.requested_amount",
            ]
        );
    }

    #[test]
    fn negative_and_absurd_amounts_are_refused() {
        for bad in [0, -5, MAX_MINOR_UNITS + 1] {
            let app = Application { requested_amount: sek(bad), ..Default::default() };
            assert_eq!(content(&app, "")[0].field, "requested_amount.minor_units", "{bad}");
        }
    }

    #[test]
    fn an_empty_draft_lacks_everything_the_requirements_need() {
        let fields: Vec<String> = completeness(&Application::default()).into_iter().map(|v| v.field).collect();
        for needed in [
            "application.target_groups",
            "application.objectives",
            "application.indicators",
            "application.requirement_statements.systematic_work",
            "application.contact_person",
        ] {
            assert!(fields.iter().any(|f| f == needed), "{needed} missing from {fields:?}");
        }
    }

    #[test]
    fn sdg_targets_follow_agenda_2030_numbering() {
        for ok in ["1.1", "11.1", "4.a", "17.19"] {
            assert!(sdg_target(ok), "{ok}");
        }
        for bad in ["0.1", "18.1", "11", "11.", "11.ABC", "x.1"] {
            assert!(!sdg_target(bad), "{bad}");
        }
    }
}
