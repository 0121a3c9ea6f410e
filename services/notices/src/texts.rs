//! What a notice says: a [`Draft`] holds the facts an event gives, and the
//! templates under `templates/` write it in the reader's language (the
//! first line is the subject, the rest the body, in Markdown).

use std::{collections::BTreeMap, sync::LazyLock};

use socialloans_documents::{Language, Templates};

/// What a notice is about, as the log stores it and names its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A report falls due in 30 or 7 days.
    ReportDueSoon,
    /// A report is overdue.
    ReportOverdue,
    /// A report still overdue after the escalation period: to the analysts.
    ReportOverdueEscalated,
    /// A case is on a meeting's agenda.
    CaseScheduled,
    /// A decision in approved minutes, with the extract.
    Decision,
    /// A condition is past its due date.
    ConditionOverdue,
    /// A condition is breached.
    ConditionBreached,
    /// An application was returned for completion.
    ApplicationReturned,
    /// A condition falls due in 30 or 7 days.
    ConditionDueSoon,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 9] = [
        Kind::ReportDueSoon,
        Kind::ReportOverdue,
        Kind::ReportOverdueEscalated,
        Kind::CaseScheduled,
        Kind::Decision,
        Kind::ConditionOverdue,
        Kind::ConditionBreached,
        Kind::ApplicationReturned,
        Kind::ConditionDueSoon,
    ];

    /// Its template's name, lower case: `report_due_soon`.
    pub fn template(self) -> &'static str {
        match self {
            Kind::ReportDueSoon => "report_due_soon",
            Kind::ReportOverdue => "report_overdue",
            Kind::ReportOverdueEscalated => "report_overdue_escalated",
            Kind::CaseScheduled => "case_scheduled",
            Kind::Decision => "decision",
            Kind::ConditionOverdue => "condition_overdue",
            Kind::ConditionBreached => "condition_breached",
            Kind::ApplicationReturned => "application_returned",
            Kind::ConditionDueSoon => "condition_due_soon",
        }
    }

    /// As the log stores it, upper case: `REPORT_DUE_SOON`.
    pub fn stored(self) -> String {
        self.template().to_ascii_uppercase()
    }

    /// The contract's value for it.
    pub fn contract(self) -> socialloans_contracts::notices::NoticeKind {
        use socialloans_contracts::notices::NoticeKind as K;
        match self {
            Kind::ReportDueSoon => K::ReportDueSoon,
            Kind::ReportOverdue => K::ReportOverdue,
            Kind::ReportOverdueEscalated => K::ReportOverdueEscalated,
            Kind::CaseScheduled => K::CaseScheduled,
            Kind::Decision => K::Decision,
            Kind::ConditionOverdue => K::ConditionOverdue,
            Kind::ConditionBreached => K::ConditionBreached,
            Kind::ApplicationReturned => K::ApplicationReturned,
            Kind::ConditionDueSoon => K::ConditionDueSoon,
        }
    }

    /// The kind stored as `stored`.
    pub fn from_stored(stored: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.stored() == stored)
    }
}

/// The notices' templates, in Swedish and English.
static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    macro_rules! both {
        ($($name:literal),*) => {
            [$(
                (concat!("sv/", $name), include_str!(concat!("../templates/sv/", $name, ".md"))),
                (concat!("en/", $name), include_str!(concat!("../templates/en/", $name, ".md"))),
            )*]
        };
    }
    let templates = both!(
        "report_due_soon",
        "report_overdue",
        "report_overdue_escalated",
        "case_scheduled",
        "decision",
        "condition_overdue",
        "condition_breached",
        "application_returned",
        "condition_due_soon"
    );
    Templates::new(&templates).expect("the notices' templates parse (tested)")
});

/// Who a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every recipient registered for the organisation.
    Borrower,
    /// The lender's analysts' mailbox.
    Analysts,
}

/// A notice before it is addressed: what it is about and the facts its
/// template writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// What it is about.
    pub kind: Kind,
    /// To whom.
    pub audience: Audience,
    /// The borrower's organisation.
    pub organization_number: String,
    /// The application, when one.
    pub application: String,
    /// The monitoring plan, when one.
    pub monitoring_plan: String,
    /// The committee case, when one.
    pub case: String,
    /// Days to wait before sending (an escalation's period).
    pub delay_days: u64,
    /// What settles it before it is sent (a report period's key), if anything.
    pub settled_by: String,
    /// The facts, by the names the templates use.
    pub facts: BTreeMap<&'static str, String>,
    /// Text that differs by language (the extract): Swedish, English.
    pub localized: Option<(&'static str, String, String)>,
}

impl Draft {
    /// A draft of `kind` for `audience` about `organization_number`.
    pub fn new(kind: Kind, audience: Audience, organization_number: &str) -> Draft {
        Draft {
            kind,
            audience,
            organization_number: organization_number.to_owned(),
            application: String::new(),
            monitoring_plan: String::new(),
            case: String::new(),
            delay_days: 0,
            settled_by: String::new(),
            facts: BTreeMap::new(),
            localized: None,
        }
    }

    /// The subject line and the Markdown body in `language`.
    pub fn write(&self, language: Language) -> (String, String) {
        let mut facts: BTreeMap<&str, String> = self.facts.clone();
        facts.insert("organization_number", self.organization_number.clone());
        facts.insert("application", self.application.clone());
        facts.insert("plan", self.monitoring_plan.clone());
        facts.insert("case", self.case.clone());
        if let Some((name, sv, en)) = &self.localized {
            facts.insert(name, if language == Language::Swedish { sv.clone() } else { en.clone() });
        }
        let text = TEMPLATES
            .render(self.kind.template(), language, &facts)
            .unwrap_or_else(|err| format!("{}\n\n{err}", self.kind.template()));
        let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
        (subject.trim().to_owned(), body.trim_start().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: Kind) -> Draft {
        let mut draft = Draft::new(kind, Audience::Borrower, "556111-1112");
        for name in [
            "due_date",
            "period_end",
            "days_before",
            "escalation_days",
            "meeting_date",
            "meeting_time",
            "outcome",
            "condition",
            "description",
            "reason",
            "message",
        ] {
            draft.facts.insert(name, format!("<{name}>"));
        }
        draft.localized = Some(("extract", "# Protokollsutdrag".into(), "# Extract from the minutes".into()));
        draft
    }

    #[test]
    fn every_kind_is_written_in_swedish_and_english_with_a_subject() {
        for kind in Kind::ALL {
            let (sv_subject, sv_body) = draft(kind).write(Language::Swedish);
            let (en_subject, en_body) = draft(kind).write(Language::English);
            assert!(!sv_subject.is_empty() && !en_subject.is_empty(), "{kind:?}");
            assert_ne!(sv_subject, en_subject, "{kind:?}");
            assert!(
                sv_body.ends_with("Social Loans\n") && sv_body.contains("Vänliga hälsningar"),
                "{kind:?}: {sv_body}"
            );
            assert!(en_body.contains("Kind regards"), "{kind:?}: {en_body}");
            assert_eq!(Kind::from_stored(&kind.stored()), Some(kind));
        }
    }

    #[test]
    fn a_reminder_says_when_and_a_decision_carries_the_extract_in_the_readers_language() {
        let (subject, body) = draft(Kind::ReportDueSoon).write(Language::Swedish);
        assert_eq!(subject, "Påminnelse: uppföljningsrapport senast <due_date>");
        assert!(body.contains("om <days_before> dagar"), "{body}");
        let (_, sv) = draft(Kind::Decision).write(Language::Swedish);
        let (_, en) = draft(Kind::Decision).write(Language::English);
        assert!(sv.contains("# Protokollsutdrag") && en.contains("# Extract from the minutes"));
    }
}
