//! The minutes (protokoll) and the case extracts (protokollsutdrag), as a
//! Swedish committee keeps them: written from the record (attendance,
//! conflicts of interest, assessments, votes, decisions, dissents) into a
//! [`Record`], and from it by the templates under `templates/` in Swedish
//! or English. Dates and times are Stockholm's.

use std::sync::LazyLock;

use serde::Serialize;
use socialloans_contracts::committee::{
    AttendanceStatus, BasicRequirement, Case, Decision, DecisionOutcome, DecisionState, Meeting, RequirementVerdict,
    VoteChoice,
};
use socialloans_documents::{Language, Templates, names, names::pick, numbers};

use crate::store::members;

/// The committee's templates: minutes and extracts, in Swedish and English.
static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    Templates::new(&[
        ("sv/decision", include_str!("../templates/sv/decision.md")),
        ("en/decision", include_str!("../templates/en/decision.md")),
        ("sv/minutes", include_str!("../templates/sv/minutes.md")),
        ("en/minutes", include_str!("../templates/en/minutes.md")),
        ("sv/extract", include_str!("../templates/sv/extract.md")),
        ("en/extract", include_str!("../templates/en/extract.md")),
    ])
    .expect("the committee's templates parse (tested)")
});

/// A vote as the record keeps it: the member's id, the choice, the comment.
#[derive(Debug, Clone)]
pub struct CastVote {
    /// `members/{uuid}`.
    pub member: String,
    /// The choice.
    pub choice: VoteChoice,
    /// A comment, or the reason of a dissent.
    pub comment: String,
}

/// What the minutes are written from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The meeting.
    pub meeting: &'a Meeting,
    /// Every member the committee has had.
    pub roster: &'a [members::Row],
    /// The cases on the agenda, in its order, with their votes at the meeting.
    pub agenda: &'a [(Case, Vec<CastVote>)],
    /// Decisions taken by written procedure reported to this meeting, each
    /// with its case.
    pub written: &'a [(Case, Decision)],
}

/// The minutes as a template reads them, in one language.
#[derive(Debug, Serialize)]
pub struct Record {
    #[serde(skip)]
    language: Language,
    meeting: String,
    title: String,
    date: String,
    start: String,
    end: String,
    location: String,
    present: Vec<Person>,
    absent: Vec<Person>,
    adjuster: String,
    sections: Vec<Section>,
    notes: String,
    approved: String,
    chair: String,
}

#[derive(Debug, Serialize)]
struct Person {
    name: String,
    role: &'static str,
    status: &'static str,
}

/// A § of the minutes: one case.
#[derive(Debug, Serialize)]
pub struct Section {
    number: usize,
    title: String,
    case: String,
    borrower: String,
    organization_number: String,
    conflicts: Vec<Conflict>,
    assessments: Vec<Assessment>,
    votes: Vec<Vote>,
    decisions: Vec<DecisionText>,
    #[serde(skip)]
    decision_names: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Conflict {
    member: String,
    description: String,
}

#[derive(Debug, Serialize)]
struct Assessment {
    requirement: &'static str,
    verdict: &'static str,
    justification: String,
}

#[derive(Debug, Serialize)]
struct Vote {
    member: String,
    choice: &'static str,
    comment: String,
}

#[derive(Debug, Serialize)]
struct DecisionText {
    outcome: &'static str,
    amount: String,
    rationale: String,
    conditions: Vec<ConditionText>,
    dissents: Vec<Dissent>,
    recorded_by: String,
    confirmed_by: String,
    written: String,
}

#[derive(Debug, Serialize)]
struct ConditionText {
    description: String,
    due: String,
}

#[derive(Debug, Serialize)]
struct Dissent {
    member: String,
    statement: String,
}

/// Who is who: members by resource name and by subject.
struct Roster<'a>(&'a [members::Row]);

impl Roster<'_> {
    /// The name of the member `name` ("members/{uuid}"), or `name` itself.
    fn name(&self, name: &str) -> String {
        let id = name.strip_prefix("members/").unwrap_or_default();
        let row = self.0.iter().find(|m| m.id.to_string() == id);
        row.map_or_else(|| name.to_owned(), |m| m.display_name.clone())
    }

    /// The name of the member who acted as `actor`, or its subject.
    fn actor(&self, actor: Option<&socialloans_contracts::common::Actor>) -> String {
        let Some(actor) = actor else { return String::new() };
        let row = self.0.iter().find(|m| !m.subject.is_empty() && m.subject == actor.subject);
        row.map_or_else(|| actor.subject.clone(), |m| m.display_name.clone())
    }

    fn role(&self, name: &str, language: Language) -> &'static str {
        let id = name.strip_prefix("members/").unwrap_or_default();
        let role = self.0.iter().find(|m| m.id.to_string() == id).map_or("", |m| m.role.as_str());
        role_label(role, language)
    }
}

fn role_label(role: &str, language: Language) -> &'static str {
    match role {
        "CHAIR" => pick(language, "ordförande", "chair"),
        "SECRETARY" => pick(language, "sekreterare", "secretary"),
        _ => pick(language, "ledamot", "member"),
    }
}

fn outcome_label(outcome: i32, language: Language) -> &'static str {
    match DecisionOutcome::try_from(outcome).unwrap_or_default() {
        DecisionOutcome::Approve => pick(language, "Beviljas", "Approved"),
        DecisionOutcome::ApproveWithConditions => pick(language, "Beviljas med villkor", "Approved with conditions"),
        DecisionOutcome::Defer => pick(language, "Bordläggs", "Deferred"),
        DecisionOutcome::Decline => pick(language, "Avslås", "Declined"),
        DecisionOutcome::Unspecified => "",
    }
}

fn verdict_label(verdict: i32, language: Language) -> &'static str {
    match RequirementVerdict::try_from(verdict).unwrap_or_default() {
        RequirementVerdict::Met => pick(language, "uppfyllt", "met"),
        RequirementVerdict::PartiallyMet => pick(language, "delvis uppfyllt", "partially met"),
        RequirementVerdict::NotMet => pick(language, "inte uppfyllt", "not met"),
        RequirementVerdict::Unspecified => "",
    }
}

fn choice_label(choice: VoteChoice, language: Language) -> &'static str {
    match choice {
        VoteChoice::Approve => pick(language, "bifall", "approve"),
        VoteChoice::ApproveWithConditions => pick(language, "bifall med villkor", "approve with conditions"),
        VoteChoice::Defer => pick(language, "bordläggning", "defer"),
        VoteChoice::Decline => pick(language, "avslag", "decline"),
        VoteChoice::Abstain => pick(language, "avstår", "abstain"),
        VoteChoice::Unspecified => "",
    }
}

/// `time` in Stockholm: its date (`2026-06-30`) and its time of day
/// (`18.00` in Swedish, `18:00` in English).
fn stockholm(time: Option<&prost_types::Timestamp>, language: Language) -> (String, String) {
    let Some(time) = time.and_then(socialloans_platform::limits::time) else {
        return (String::new(), String::new());
    };
    let local = time.with_timezone(&chrono_tz::Europe::Stockholm);
    let clock = pick(language, "%H.%M", "%H:%M");
    (local.format("%Y-%m-%d").to_string(), local.format(clock).to_string())
}

impl Record {
    /// The minutes of `sources` in `language`.
    pub fn of(sources: Sources<'_>, language: Language) -> Record {
        let Sources { meeting, roster, agenda, written } = sources;
        let people = Roster(roster);
        let (date, start) = stockholm(meeting.start_time.as_ref(), language);
        let (_, end) = stockholm(meeting.end_time.as_ref(), language);
        let (approved, _) = stockholm(meeting.minutes_approve_time.as_ref(), language);
        let mut present = Vec::new();
        let mut absent = Vec::new();
        for a in &meeting.attendance {
            let status = match AttendanceStatus::try_from(a.status).unwrap_or_default() {
                AttendanceStatus::Present => "",
                AttendanceStatus::Excused => pick(language, "anmält förhinder", "excused"),
                _ => pick(language, "frånvarande", "absent"),
            };
            let person = Person { name: people.name(&a.member), role: people.role(&a.member, language), status };
            if status.is_empty() { present.push(person) } else { absent.push(person) }
        }
        let day = crate::meetings::day(meeting);
        for m in roster.iter().filter(|m| m.role != "SECRETARY" && m.active_on(day)) {
            let name = format!("members/{}", m.id);
            if !meeting.attendance.iter().any(|a| a.member == name) {
                let status = pick(language, "närvaro ej antecknad", "attendance not recorded");
                absent.push(Person { name: m.display_name.clone(), role: role_label(&m.role, language), status });
            }
        }
        let mut sections: Vec<Section> = agenda
            .iter()
            .enumerate()
            .map(|(i, (case, votes))| {
                // A record superseded before confirmation was a slip, not a decision.
                let superseded = DecisionState::Superseded as i32;
                // One reported here from a written procedure has its own §.
                let in_writing = |d: &Decision| written.iter().any(|(_, w)| w.name == d.name);
                let decisions = case
                    .decisions
                    .iter()
                    .filter(|d| d.meeting == meeting.name && d.state != superseded && !in_writing(d));
                section(&people, i + 2, (case, votes), decisions.collect(), false, language)
            })
            .collect();
        for (case, decision) in written {
            sections.push(section(&people, sections.len() + 2, (case, &[]), vec![decision], true, language));
        }
        Record {
            language,
            meeting: meeting.name.clone(),
            title: meeting.title.clone(),
            date,
            start,
            end,
            location: meeting.location.clone(),
            present,
            absent,
            adjuster: if meeting.adjuster.is_empty() { String::new() } else { people.name(&meeting.adjuster) },
            sections,
            notes: meeting.notes.trim_end().to_owned(),
            approved,
            chair: people.actor(meeting.minutes_approved_by.as_ref()),
        }
    }

    /// The minutes, in Markdown; an error only if the templates are wrong
    /// (their tests render every part).
    pub fn minutes(&self) -> Result<String, Unwritten> {
        TEMPLATES.render("minutes", self.language, self).map_err(Unwritten)
    }

    /// The extract of the § holding `decision`, in Markdown, with its
    /// number; `None` if no § holds it.
    pub fn extract(&self, decision: &str) -> Option<Result<(String, usize), Unwritten>> {
        let (section, index) = self.sections.iter().find_map(|s| {
            let index = s.decision_names.iter().position(|d| d == decision)?;
            Some((s, index))
        })?;
        let context = minijinja_context(self, section, index);
        Some(TEMPLATES.render("extract", self.language, context).map(|text| (text, section.number)).map_err(Unwritten))
    }
}

/// A template could not write a document: a defect of the templates, never
/// of the record; the call fails INTERNAL and the record is unchanged.
#[derive(Debug)]
pub struct Unwritten(pub minijinja::Error);

impl From<Unwritten> for crate::error::Error {
    fn from(Unwritten(err): Unwritten) -> Self {
        tracing::error!(error = %err, "a committee template failed");
        crate::error::Error::Status(Box::new(tonic::Status::internal("the document could not be written")))
    }
}

/// What the extract's template reads: the minutes' heading, the § and its
/// decision `index`.
fn minijinja_context<'a>(record: &'a Record, section: &'a Section, index: usize) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Extract<'a> {
        #[serde(flatten)]
        record: &'a Record,
        s: &'a Section,
        d: &'a DecisionText,
    }
    Extract { record, s: section, d: &section.decisions[index] }
}

/// The § `number` of the minutes: a case, the votes cast on it and the
/// `decisions` taken (by `written` procedure, or at the meeting).
fn section(
    people: &Roster<'_>,
    number: usize,
    (case, votes): (&Case, &[CastVote]),
    decisions: Vec<&Decision>,
    written: bool,
    language: Language,
) -> Section {
    let conflicts = case
        .conflicts_of_interest
        .iter()
        .map(|c| Conflict { member: people.name(&c.member), description: c.description.clone() })
        .collect();
    let assessments = case
        .requirement_assessments
        .iter()
        .map(|a| Assessment {
            requirement: names::requirement(BasicRequirement::try_from(a.requirement).unwrap_or_default(), language),
            verdict: verdict_label(a.verdict, language),
            justification: a.justification.clone(),
        })
        .collect();
    let votes = votes
        .iter()
        .map(|v| Vote {
            member: people.name(&v.member),
            choice: choice_label(v.choice, language),
            comment: v.comment.clone(),
        })
        .collect();
    Section {
        number,
        title: case.title.clone(),
        case: case.name.clone(),
        borrower: case.borrower_display_name.clone(),
        organization_number: case.organization_number.clone(),
        conflicts,
        assessments,
        votes,
        decision_names: decisions.iter().map(|d| d.name.clone()).collect(),
        decisions: decisions.into_iter().map(|d| decision_text(people, d, written, language)).collect(),
    }
}

fn decision_text(people: &Roster<'_>, d: &Decision, written: bool, language: Language) -> DecisionText {
    let conditions = d
        .conditions
        .iter()
        .map(|c| ConditionText { description: c.description.clone(), due: numbers::iso_date(c.due_date.as_ref()) })
        .collect();
    let dissents =
        d.dissents.iter().map(|r| Dissent { member: people.name(&r.member), statement: r.statement.clone() }).collect();
    let written = if written { stockholm(d.confirm_time.as_ref(), language).0 } else { String::new() };
    DecisionText {
        outcome: outcome_label(d.outcome, language),
        amount: d.approved_amount.as_ref().map(|m| numbers::money(m.minor_units, language)).unwrap_or_default(),
        rationale: d.rationale.clone(),
        conditions,
        dissents,
        recorded_by: people.actor(d.recorded_by.as_ref()),
        confirmed_by: match &d.confirmed_by {
            Some(actor) => people.actor(Some(actor)),
            None => pick(language, "ingen ännu", "nobody yet").to_owned(),
        },
        written,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use socialloans_contracts::committee::{
        Attendance, Condition, ConflictOfInterestDeclaration, Dissent, RequirementAssessment,
    };
    use socialloans_contracts::common::{Actor, Date, Money};

    fn member(id: u128, name: &str, role: &str, subject: &str) -> members::Row {
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap();
        members::Row {
            id: uuid::Uuid::from_u128(id),
            display_name: name.into(),
            role: role.into(),
            term_start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            term_end: None,
            subject: subject.into(),
            expertise: String::new(),
            revision: 1,
            create_time: at,
            update_time: at,
        }
    }

    fn name(id: u128) -> String {
        format!("members/{}", uuid::Uuid::from_u128(id))
    }

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn actor(subject: &str) -> Option<Actor> {
        Some(Actor { subject: subject.into(), ..Default::default() })
    }

    fn roster() -> Vec<members::Row> {
        vec![
            member(1, "Carl Ek", "CHAIR", "carl"),
            member(2, "Lena Berg", "MEMBER", "lena"),
            member(3, "Maja Ny", "MEMBER", "maja"),
            member(4, "Olof Strand", "MEMBER", "olof"),
            member(5, "Sara Lind", "SECRETARY", "sara"),
        ]
    }

    /// A meeting on 2026-06-30 from 18:00 to 19:30 Stockholm (summer) time.
    fn meeting(approved: bool) -> Meeting {
        let present =
            |id| Attendance { member: name(id), status: AttendanceStatus::Present as i32, ..Default::default() };
        Meeting {
            name: "meetings/m".into(),
            title: "Kommittémöte Q2".into(),
            location: "Stockholm".into(),
            start_time: at(1_782_835_200),
            end_time: at(1_782_840_600),
            attendance: vec![
                present(1),
                present(2),
                present(3),
                Attendance { member: name(4), status: AttendanceStatus::Excused as i32, ..Default::default() },
            ],
            adjuster: name(3),
            notes: "Frågor till Botkyrkabyggen före nästa möte.".into(),
            minutes_approved_by: actor("carl"),
            minutes_approve_time: if approved { at(1_782_900_000) } else { None },
            ..Default::default()
        }
    }

    fn case() -> Case {
        Case {
            name: "cases/c".into(),
            title: "ROT-renovering Fittja".into(),
            borrower_display_name: "Botkyrkabyggen AB".into(),
            organization_number: "556111-1112".into(),
            conflicts_of_interest: vec![ConflictOfInterestDeclaration {
                member: name(2),
                description: "Sitter i bolagets styrelse".into(),
                ..Default::default()
            }],
            requirement_assessments: vec![RequirementAssessment {
                requirement: BasicRequirement::DefinedTargetGroup as i32,
                verdict: RequirementVerdict::PartiallyMet as i32,
                justification: "Hyresgäster i Fittja".into(),
                ..Default::default()
            }],
            decisions: vec![Decision {
                name: "cases/c/decisions/d".into(),
                meeting: "meetings/m".into(),
                state: DecisionState::Confirmed as i32,
                outcome: DecisionOutcome::ApproveWithConditions as i32,
                approved_amount: Some(Money { currency_code: "SEK".into(), minor_units: 1_250_000_000 }),
                rationale: "Stärker kvarboendet.".into(),
                conditions: vec![Condition {
                    description: "Rapportera hyresnivåerna".into(),
                    due_date: Some(Date { year: 2027, month: 3, day: 1 }),
                    ..Default::default()
                }],
                dissents: vec![Dissent { member: name(3), statement: "Risk för hyreshöjningar".into() }],
                recorded_by: actor("sara"),
                confirmed_by: actor("carl"),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn votes() -> Vec<CastVote> {
        vec![
            CastVote { member: name(1), choice: VoteChoice::ApproveWithConditions, comment: String::new() },
            CastVote { member: name(3), choice: VoteChoice::Decline, comment: "Risk för hyreshöjningar".into() },
        ]
    }

    fn record(approved: bool, language: Language) -> Record {
        let (meeting, roster, agenda) = (meeting(approved), roster(), vec![(case(), votes())]);
        Record::of(Sources { meeting: &meeting, roster: &roster, agenda: &agenda, written: &[] }, language)
    }

    #[test]
    fn swedish_minutes_have_a_paragraph_per_item_stockholm_times_and_the_justering() {
        let minutes = record(true, Language::Swedish).minutes().unwrap();
        for line in [
            "# Protokoll: Kommittémöte Q2\n",
            "- Datum: 2026-06-30\n- Tid: kl. 18.00–19.30 (svensk tid)\n- Plats: Stockholm\n",
            "## Närvarande\n\n- Carl Ek, ordförande\n- Lena Berg, ledamot\n- Maja Ny, ledamot\n",
            "## Frånvarande\n\n- Olof Strand, ledamot (anmält förhinder)\n",
            "## § 1 Val av justerare\n\nAtt jämte ordföranden justera dagens protokoll utses Maja Ny.\n",
            "## § 2 ROT-renovering Fittja\n",
            "- Lena Berg anmäler jäv (Sitter i bolagets styrelse) och deltar inte i handläggningen.\n",
            "- Definierad målgrupp: delvis uppfyllt – Hyresgäster i Fittja\n",
            "- Maja Ny: avslag – Risk för hyreshöjningar\n",
            "**Beslut:** Beviljas med villkor. Beviljat belopp: 12 500 000 kr.\n",
            "- Rapportera hyresnivåerna (senast 2027-03-01)\n",
            "Reservation: Maja Ny reserverar sig mot beslutet: Risk för hyreshöjningar\n",
            "Protokollfört av Sara Lind; bekräftat av Carl Ek.\n",
            "## Sekreterarens anteckningar\n\nFrågor till Botkyrkabyggen före nästa möte.\n",
            "Protokollet justerades 2026-07-01 av Carl Ek, ordförande, och Maja Ny, justerare.\n",
        ] {
            assert!(minutes.contains(line), "{line:?} not in:\n{minutes}");
        }
        assert!(!minutes.contains("\n\n\n"), "no runs of blank lines:\n{minutes}");
        assert!(minutes.contains("12 500 000 kr.\n\nMotivering: Stärker kvarboendet.\n\nVillkor:\n- "), "{minutes}");
    }

    #[test]
    fn english_minutes_say_the_same_in_english() {
        let minutes = record(false, Language::English).minutes().unwrap();
        for line in [
            "# Minutes: Kommittémöte Q2\n",
            "- Time: 18:00–19:30 (Stockholm time)\n",
            "## § 1 Appointment of the adjuster\n\nMaja Ny is appointed",
            "- Defined target group: partially met – Hyresgäster i Fittja\n",
            "**Decision:** Approved with conditions. Amount approved: SEK 12,500,000.\n",
            "Dissent: Maja Ny dissents from the decision: Risk för hyreshöjningar\n",
            "The minutes are not yet approved.\n",
        ] {
            assert!(minutes.contains(line), "{line:?} not in:\n{minutes}");
        }
    }

    #[test]
    fn an_extract_holds_the_one_paragraph_without_votes_or_conflicts() {
        let (extract, section) = record(true, Language::Swedish).extract("cases/c/decisions/d").unwrap().unwrap();
        assert_eq!(section, 2);
        for line in [
            "# Protokollsutdrag\n",
            "## § 2 ROT-renovering Fittja\n",
            "**Beslut:** Beviljas med villkor. Beviljat belopp: 12 500 000 kr.\n",
            "Protokollet justerades 2026-07-01 av Carl Ek, ordförande, och Maja Ny, justerare.\n",
        ] {
            assert!(extract.contains(line), "{line:?} not in:\n{extract}");
        }
        for internal in ["jäv", "avslag –", "Definierad målgrupp", "Sekreterarens"] {
            assert!(!extract.contains(internal), "{internal:?} in the extract:\n{extract}");
        }
        assert!(record(true, Language::Swedish).extract("cases/c/decisions/other").is_none());
    }

    #[test]
    fn minutes_of_a_meeting_with_nothing_recorded_still_render() {
        let (meeting, roster) = (Meeting::default(), Vec::new());
        let record =
            Record::of(Sources { meeting: &meeting, roster: &roster, agenda: &[], written: &[] }, Language::Swedish);
        let minutes = record.minutes().unwrap();
        assert!(
            minutes.contains("Ingen ledamot har antecknats som närvarande.") && minutes.contains("Ingen justerare")
        );
    }
}
