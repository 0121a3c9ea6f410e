//! The story's notices: who at each borrower is told, each borrower's
//! extract of the justerade minutes, time passing on a local suite until
//! Botkyrkabyggen is reminded of its second report, and the communication
//! logs with the notices the story caused, sent.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use socialloans_contracts::{
    committee as cm, common, monitoring as mo,
    notices::{self as no},
};
use socialloans_platform::Role;

use super::{BOTKYRKA, EIDAR, ORGS, SHORT_NAMES, Story, answer, expect, rid};

/// Who at each pilot is told, and in which language.
const RECIPIENTS: [(&str, common::Language); 2] =
    [("anna.andersson@example.se", common::Language::Swedish), ("erik.eriksson@example.se", common::Language::English)];

impl Story<'_> {
    /// Each borrower names who receives its notices (when the suite has a
    /// notices service).
    pub(super) async fn recipients(&mut self) -> Result<(), String> {
        let Some(mut notices) = self.notices.clone() else {
            self.step("(suite)", "no notices service named: the story sends no e-mail", "skipped");
            return Ok(());
        };
        for (i, (email, language)) in RECIPIENTS.iter().enumerate() {
            let recipient = no::Recipient {
                email: (*email).into(),
                language: *language as i32,
                display_name: SHORT_NAMES[i].into(),
                ..Default::default()
            };
            let request = no::SetRecipientRequest { request_id: rid(), recipient: Some(recipient) };
            answer(notices.set_recipient(self.borrower(ORGS[i], request)).await)?;
            let said = if i == BOTKYRKA { "in Swedish" } else { "in English" };
            self.step(SHORT_NAMES[i], &format!("{email} receives our notices, {said}"), "registered");
        }
        Ok(())
    }

    /// Each borrower reads the extract of the minutes on its own case;
    /// written to `out`.
    pub(super) async fn extracts(&mut self, applications: &[String; 2], out: &Path) -> Result<Vec<PathBuf>, String> {
        let mut files = Vec::new();
        for (i, application) in applications.iter().enumerate() {
            let request = cm::GetCaseExtractRequest { application: application.clone(), ..Default::default() };
            let extract = answer(self.committee.get_case_extract(self.borrower(ORGS[i], request)).await)?;
            let text = extract.document.map(|d| d.content).unwrap_or_default();
            expect("an extract of approved minutes", text.starts_with("# Protokollsutdrag"), true)?;
            let file = out.join(format!("protokollsutdrag-{}.md", ORGS[i]));
            std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
            self.step(SHORT_NAMES[i], &format!("reads § {} of the justerade minutes", extract.section), "extract");
            files.push(file);
        }
        Ok(files)
    }

    /// On a local suite, time passes to 25 days before Botkyrkabyggen's
    /// second report falls due, and the detector reminds it; then today
    /// again. A suite elsewhere keeps its own time: the step is skipped.
    pub(super) async fn reminder(&mut self, plan: &mo::MonitoringPlan) -> Result<(), String> {
        let (Some(clock), Some(notices)) = (self.clock_file.clone(), self.notices.clone()) else {
            self.step("(suite)", "the suite's time cannot be moved from here: no reminder", "skipped");
            return Ok(());
        };
        let due = plan.reporting_periods.get(1).and_then(|p| p.due_date).ok_or("no second reporting period")?;
        let due = NaiveDate::from_ymd_opt(due.year, due.month as u32, due.day as u32).ok_or("a bad due date")?;
        let day = due - chrono::Duration::days(25);
        std::fs::write(&clock, format!("{day}\n")).map_err(|e| format!("{}: {e}", clock.display()))?;
        let plan_name = plan.name.clone();
        let reminded = self
            .eventually("the reminder before the second report", async |s: &mut Self| {
                let mut notices = notices.clone();
                let request =
                    no::ListCommunicationsRequest { monitoring_plan: plan_name.clone(), ..Default::default() };
                let log = answer(notices.list_communications(s.borrower(ORGS[BOTKYRKA], request)).await)?;
                Ok(log.communications.into_iter().find(|c| c.kind == no::NoticeKind::ReportDueSoon as i32))
            })
            .await;
        let _ = std::fs::remove_file(&clock);
        let reminded = reminded?;
        self.step("(time passes)", &format!("{day}: the detector reminds Botkyrkabyggen"), &reminded.subject);
        Ok(())
    }

    /// Each borrower's communication log: the notices the story caused, and
    /// where their delivery stands (a suite without a relay keeps them
    /// waiting; `socialloans up` has one).
    pub(super) async fn communication_logs(&mut self) -> Result<(), String> {
        let Some(mut notices) = self.notices.clone() else { return Ok(()) };
        self.chapter("8. What the borrowers were told").await;
        for i in [BOTKYRKA, EIDAR] {
            let log = self
                .eventually("the agenda and decision notices", async |s: &mut Self| {
                    let request = no::ListCommunicationsRequest::default();
                    let log = answer(notices.list_communications(s.borrower(ORGS[i], request)).await)?;
                    let written = |kind: no::NoticeKind| log.communications.iter().any(|c| c.kind == kind as i32);
                    Ok((written(no::NoticeKind::Decision) && written(no::NoticeKind::CaseScheduled)).then_some(log))
                })
                .await?;
            for c in log.communications.iter().rev() {
                let state = no::DeliveryState::try_from(c.state).unwrap_or_default().as_str_name();
                let state = state.trim_start_matches("DELIVERY_STATE_").to_lowercase();
                self.step(SHORT_NAMES[i], &format!("{}: {}", c.recipient_email, c.subject), &state);
            }
        }
        let request = no::ListCommunicationsRequest::default();
        let all = answer(notices.list_communications(self.staff(Role::Auditor, request)).await)?;
        self.step("auditor", "reads the communication log", &format!("{} notices", all.communications.len()));
        Ok(())
    }
}
