//! The minutes: written from the record ([`crate::minutes`]), approved
//! (justerade) by the chair and the adjuster appointed at the meeting, four
//! eyes as on decisions, and read as rendered documents and as extracts of
//! one § for a borrower.

use socialloans_contracts::common::DocumentFormat;
use socialloans_documents::{Language, names::pick};
use sqlx::PgPool;

use super::*;
use crate::minutes::{CastVote, Record, Sources};

/// What the minutes of a meeting are written from, read from the record.
pub struct Gathered {
    roster: Vec<store::members::Row>,
    agenda: Vec<(Case, Vec<CastVote>)>,
    written: Vec<(Case, Decision)>,
}

impl Gathered {
    /// The case `decision` ("cases/{uuid}/decisions/{n}") was taken on,
    /// among those the minutes hold.
    fn case_of(&self, decision: &str) -> Option<&Case> {
        let cases = self.agenda.iter().map(|(case, _)| case).chain(self.written.iter().map(|(case, _)| case));
        cases.into_iter().find(|case| decision.starts_with(&format!("{}/decisions/", case.name)))
    }

    /// The minutes of `meeting` as its templates read them, in `language`.
    pub fn record(&self, meeting: &Meeting, language: Language) -> Record {
        let sources = Sources { meeting, roster: &self.roster, agenda: &self.agenda, written: &self.written };
        Record::of(sources, language)
    }
}

/// Reads what the minutes of `meeting` are written from: the roster, the
/// cases on its agenda (unlocked) with the votes cast on them there.
pub async fn gather(conn: &mut PgConnection, meeting: &Meeting) -> Result<Gathered, Error> {
    let roster = store::members::roster(conn).await?;
    let meeting_id = parse("name", "meetings/", &meeting.name)?;
    let approved = meeting.state == MeetingState::MinutesApproved as i32;
    let reported = store::written::reported_in(conn, meeting_id, approved).await?;
    let ids: Vec<Uuid> =
        meeting.agenda.iter().map(|item| parse("case", "cases/", &item.case)).collect::<Result<_, _>>()?;
    // The agenda's cases and those decided in writing, in one read.
    let all: Vec<Uuid> = ids.iter().copied().chain(reported.iter().map(|(_, case)| *case)).collect();
    let cases = cases_by_name(conn, &all).await?;
    let case = |id: Uuid| {
        let name = format!("cases/{id}");
        cases.get(&name).cloned().ok_or(Error::NotFound(name))
    };
    let mut agenda = Vec::with_capacity(ids.len());
    for id in ids {
        let case = case(id)?;
        let votes = store::votes::at_meeting_in_order(conn, id, meeting_id)
            .await?
            .into_iter()
            .map(|r| CastVote {
                member: format!("members/{}", r.member_id),
                choice: StoredVoteChoice::from_stored(&r.choice).map_or(VoteChoice::Unspecified, |c| c.0),
                comment: r.comment,
            })
            .collect();
        agenda.push((case, votes));
    }
    let mut written = Vec::with_capacity(reported.len());
    for (decision, case_id) in reported {
        let case = case(case_id)?;
        if let Some(decision) = case.decisions.iter().find(|d| d.name == decision).cloned() {
            written.push((case, decision));
        }
    }
    Ok(Gathered { roster, agenda, written })
}

/// The decisions by written procedure nobody has reported, claimed by the
/// minutes of `meeting` being approved `now`: each frozen, and named as
/// taken under them. Their names.
async fn claim_written(conn: &mut PgConnection, meeting: &Meeting, now: DateTime<Utc>) -> Result<Vec<String>, Error> {
    let meeting_id = parse("name", "meetings/", &meeting.name)?;
    let mut frozen = Vec::new();
    for (decision, case_id) in store::written::claim(conn, meeting_id).await? {
        let (case_row, mut case) = lock_case(conn, &format!("cases/{case_id}")).await?;
        if let Some(d) = case.decisions.iter_mut().find(|d| d.name == decision) {
            d.meeting = meeting.name.clone();
            d.frozen = true;
            d.freeze_time = Some(timestamp(now));
            frozen.push(decision);
        }
        store::cases::save(conn, &case_row, &case, case_row.state.0).await?;
    }
    Ok(frozen)
}

/// The minutes of `meeting` as the record keeps them: in Swedish.
pub async fn write_minutes(conn: &mut PgConnection, meeting: &Meeting) -> Result<String, Error> {
    Ok(gather(conn, meeting).await?.record(meeting, Language::Swedish).minutes()?)
}

/// The approvals of the minutes given so far, withdrawn: the text they
/// approved is about to change.
pub fn withdraw_approvals(meeting: &mut Meeting) {
    meeting.minutes_approved_by = None;
    meeting.minutes_chair_approve_time = None;
    meeting.minutes_adjusted_by = None;
    meeting.minutes_adjust_time = None;
}

/// Whether anyone has approved the minutes of `meeting` yet.
fn approval_begun(meeting: &Meeting) -> bool {
    meeting.minutes_approved_by.is_some() || meeting.minutes_adjusted_by.is_some()
}

/// Appoints the member `req.member` adjuster of the meeting `req.name`.
pub async fn appoint_adjuster(conn: &mut PgConnection, req: &pb::AppointAdjusterRequest) -> Result<Meeting, Error> {
    let member_id = parse("member", "members/", &req.member)?;
    let (row, mut meeting) = lock_meeting(conn, &req.name).await?;
    check_etag(&req.etag, &meeting.etag)?;
    let state = row.state();
    if !matches!(state, MeetingState::InProgress | MeetingState::Adjourned) {
        return Err(refused(
            "MEETING_CLOSED",
            "an adjuster is appointed at the meeting, before its minutes are approved",
        ));
    }
    if approval_begun(&meeting) {
        return Err(refused("MINUTES_BEING_APPROVED", "the minutes' approval has begun with this adjuster"));
    }
    let member = store::members::lock(conn, member_id).await?.ok_or_else(|| Error::NotFound(req.member.clone()))?;
    let name = format!("members/{member_id}");
    let why = if member.role != "MEMBER" {
        Some("the adjuster is a member, not the chair or the secretary: four eyes")
    } else if !present(&meeting, &name) {
        Some("the adjuster is a member recorded present at the meeting")
    } else if !member.active_on(meetings::day(&meeting)) {
        Some("the adjuster serves on the committee on the meeting's day")
    } else if member.subject.is_empty() {
        Some("the adjuster needs a subject: the account that approves the minutes")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(refused("ADJUSTER_NOT_ELIGIBLE", why));
    }
    meeting.adjuster = name;
    if state == MeetingState::Adjourned {
        meeting.minutes = write_minutes(conn, &meeting).await?;
    }
    meetings::view(&store::meetings::save(conn, &row, &meeting, state).await?)
}

/// The decisions taken at `meeting`, each with its locked case: refused
/// while one still awaits confirmation.
async fn confirmed_cases(conn: &mut PgConnection, meeting: &Meeting) -> Result<Vec<(store::cases::Row, Case)>, Error> {
    let mut cases = Vec::with_capacity(meeting.agenda.len());
    for item in &meeting.agenda {
        let (case_row, case) = lock_case(conn, &item.case).await?;
        if case.decisions.iter().any(|d| d.meeting == meeting.name && d.state == DecisionState::Recorded as i32) {
            return Err(refused("DECISION_NOT_CONFIRMED", format!("a decision on {} awaits confirmation", case.name)));
        }
        cases.push((case_row, case));
    }
    Ok(cases)
}

impl Acting<'_> {
    /// The chair or the adjuster approves the minutes; with both approvals
    /// given, every decision of the meeting freezes, the minutes are written
    /// final onto the chain, and the chain's head is signed.
    pub async fn approve_minutes(self, conn: &mut PgConnection, name: &str, etag: &str) -> Result<Meeting, Error> {
        let (row, mut meeting) = lock_meeting(conn, name).await?;
        check_etag(etag, &meeting.etag)?;
        if row.state() != MeetingState::Adjourned {
            return Err(refused("MEETING_NOT_ADJOURNED", "minutes are approved after the meeting is adjourned"));
        }
        let adjuster_id = match parse("adjuster", "members/", &meeting.adjuster) {
            Ok(id) if !meeting.adjuster.is_empty() => id,
            _ => return Err(refused("ADJUSTER_NOT_APPOINTED", "appoint the adjuster who approves with the chair")),
        };
        let cases = confirmed_cases(conn, &meeting).await?;
        let adjuster = store::members::lock(conn, adjuster_id).await?;
        let now = Utc::now();
        self.sign(&mut meeting, adjuster.is_some_and(|a| a.subject == self.caller.subject), now)?;
        if meeting.minutes_approved_by.is_none() || meeting.minutes_adjusted_by.is_none() {
            return meetings::view(&store::meetings::save(conn, &row, &meeting, MeetingState::Adjourned).await?);
        }
        let mut frozen = Vec::new();
        for (case_row, mut case) in cases {
            for d in case
                .decisions
                .iter_mut()
                .filter(|d| d.meeting == meeting.name && d.state == DecisionState::Confirmed as i32)
            {
                d.frozen = true;
                d.freeze_time = Some(timestamp(now));
                frozen.push(d.name.clone());
            }
            store::cases::save(conn, &case_row, &case, case_row.state.0).await?;
        }
        frozen.extend(claim_written(conn, &meeting, now).await?);
        meeting.minutes_approve_time = Some(timestamp(now));
        meeting.state = MeetingState::MinutesApproved as i32;
        let gathered = gather(conn, &meeting).await?;
        meeting.minutes = gathered.record(&meeting, Language::Swedish).minutes()?;
        issue_extracts(conn, &gathered, &meeting, &frozen).await?;
        let signers = [&meeting.minutes_approved_by, &meeting.minutes_adjusted_by]
            .map(|a| a.as_ref().map(|a| a.subject.clone()).unwrap_or_default());
        let summary = format!(
            "MINUTES_APPROVED by {} (chair) and {} (adjuster), freezing {} decision(s)",
            signers[0],
            signers[1],
            frozen.len()
        );
        let role = if self.caller.subject == signers[0] { Role::CommitteeChair } else { Role::CommitteeMember };
        let payload = meeting.minutes.as_bytes();
        chain::append(conn, self.entry(role, "MINUTES_APPROVED", name, &summary, payload)).await?;
        let approved = pb::MinutesApproved {
            meeting: name.to_owned(),
            frozen_decisions: frozen,
            approve_time: Some(timestamp(now)),
        };
        publish(conn, name, &approved).await?;
        let approved =
            meetings::view(&store::meetings::save(conn, &row, &meeting, MeetingState::MinutesApproved).await?)?;
        chain::sign_head(conn, self.key).await?;
        Ok(approved)
    }

    /// Records the caller's approval on `meeting`: as its adjuster when the
    /// caller is the adjuster (`is_adjuster`: the adjuster's subject), else
    /// as the chair. The adjuster's subject never approves as the chair, so
    /// two approvals are always two people.
    fn sign(&self, meeting: &mut Meeting, is_adjuster: bool, now: DateTime<Utc>) -> Result<(), Error> {
        let already = |whom: &str| refused("ALREADY_APPROVED", format!("the minutes carry your approval as {whom}"));
        if is_adjuster && self.caller.has(Role::CommitteeMember) {
            if meeting.minutes_adjusted_by.is_some() {
                return Err(already("adjuster"));
            }
            meeting.minutes_adjusted_by = Some(self.actor(Role::CommitteeMember));
            meeting.minutes_adjust_time = Some(timestamp(now));
        } else if self.caller.has(Role::CommitteeChair) && !is_adjuster {
            if meeting.minutes_approved_by.is_some() {
                return Err(already("chair"));
            }
            meeting.minutes_approved_by = Some(self.actor(Role::CommitteeChair));
            meeting.minutes_chair_approve_time = Some(timestamp(now));
        } else {
            let message = if is_adjuster {
                "the adjuster approves the minutes as a member (role committee_member), never also as the chair"
            } else {
                "the minutes are approved by the chair and by the adjuster appointed at the meeting"
            };
            return Err(Error::PermissionDenied { reason: "NOT_THE_ADJUSTER", message: message.into() });
        }
        Ok(())
    }
}

/// Publishes the extract of each of the `frozen` decisions the approved
/// minutes of `meeting` hold (`CaseExtractIssued`), in Swedish and English.
async fn issue_extracts(
    conn: &mut PgConnection,
    gathered: &Gathered,
    meeting: &Meeting,
    frozen: &[String],
) -> Result<(), Error> {
    let (swedish, english) = (gathered.record(meeting, Language::Swedish), gathered.record(meeting, Language::English));
    for decision in frozen {
        let (Some(case), Some(sv), Some(en)) =
            (gathered.case_of(decision), swedish.extract(decision), english.extract(decision))
        else {
            continue;
        };
        let ((extract_swedish, section), (extract_english, _)) = (sv?, en?);
        let outcome = case.decisions.iter().find(|d| &d.name == decision).map_or(0, |d| d.outcome);
        let issued = pb::CaseExtractIssued {
            case: case.name.clone(),
            application: case.application.clone(),
            organization_number: case.organization_number.clone(),
            decision: decision.clone(),
            meeting: meeting.name.clone(),
            section: section as i32,
            outcome,
            extract_swedish,
            extract_english,
        };
        publish(conn, &case.name, &issued).await?;
    }
    Ok(())
}

/// The language and format a render call asks for, each checked.
fn asked(language: i32, format: i32) -> Result<(Language, DocumentFormat), Error> {
    let mut violations = Vec::new();
    let language = socialloans_documents::Language::asked(language);
    if language.is_none() {
        violations.push(FieldViolation::new("language", "is LANGUAGE_SWEDISH or LANGUAGE_ENGLISH (unset: Swedish)"));
    }
    let format = socialloans_documents::format_asked(format);
    if format.is_none() {
        violations.push(FieldViolation::new("format", "is DOCUMENT_FORMAT_MARKDOWN or _HTML (unset: Markdown)"));
    }
    match (language, format) {
        (Some(language), Some(format)) => Ok((language, format)),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

/// The minutes of the meeting `req.name`, as asked for.
pub async fn render_minutes(pool: &PgPool, req: &pb::RenderMinutesRequest) -> Result<pb::RenderMinutesResponse, Error> {
    let (language, format) = asked(req.language, req.format)?;
    let id = parse("name", "meetings/", &req.name)?;
    let row = store::meetings::get(pool, id).await?.ok_or_else(|| Error::NotFound(req.name.clone()))?;
    let meeting = meetings::view(&row)?;
    let approved = row.state() == MeetingState::MinutesApproved;
    if !approved && row.state() != MeetingState::Adjourned {
        return Err(refused("MINUTES_NOT_WRITTEN", "minutes are written when the meeting is adjourned"));
    }
    let markdown = match language {
        Language::Swedish => meeting.minutes.clone(),
        _ => gather(&mut *pool.acquire().await?, &meeting).await?.record(&meeting, language).minutes()?,
    };
    let title = format!("{}: {}", pick(language, "Protokoll", "Minutes"), meeting.title);
    let document = socialloans_documents::document(markdown, &title, language, format);
    Ok(pb::RenderMinutesResponse { document: Some(document), approved })
}

/// The extract of the minutes for the case `req` names, as asked for, to a
/// caller who may see it.
pub async fn case_extract(
    pool: &PgPool,
    caller: &Caller,
    req: &pb::GetCaseExtractRequest,
) -> Result<pb::GetCaseExtractResponse, Error> {
    let (language, format) = asked(req.language, req.format)?;
    let case = extract_case(pool, caller, req).await?;
    let decision = case.decisions.iter().rev().find(|d| d.frozen && !d.meeting.is_empty());
    let Some(decision) = decision else {
        return Err(refused("NO_APPROVED_MINUTES", format!("no decision on {} is in approved minutes yet", case.name)));
    };
    let meeting_id = parse("meeting", "meetings/", &decision.meeting)?;
    let row = store::meetings::get(pool, meeting_id).await?.ok_or_else(|| Error::NotFound(decision.meeting.clone()))?;
    let meeting = meetings::view(&row)?;
    let record = gather(&mut *pool.acquire().await?, &meeting).await?.record(&meeting, language);
    let Some(extract) = record.extract(&decision.name) else {
        return Err(Error::NotFound(format!("{} in the minutes of {}", decision.name, meeting.name)));
    };
    let (markdown, section) = extract?;
    let title = format!("{} § {section}", pick(language, "Protokollsutdrag", "Extract from the minutes"));
    Ok(pb::GetCaseExtractResponse {
        document: Some(socialloans_documents::document(markdown, &title, language, format)),
        case: case.name.clone(),
        meeting: meeting.name,
        decision: decision.name.clone(),
        section: section as i32,
    })
}

/// The case `req` names (directly, or the latest of its application's
/// cases), NOT_FOUND to a borrower outside its organisations.
async fn extract_case(pool: &PgPool, caller: &Caller, req: &pb::GetCaseExtractRequest) -> Result<Case, Error> {
    let row = if !req.case.is_empty() {
        let id = parse("case", "cases/", &req.case)?;
        store::cases::get(pool, id).await?
    } else if !req.application.is_empty() {
        socialloans_platform::names::uuid("application", "applications/{uuid}", &req.application)?;
        store::cases::list(pool, None, Some(&req.application), None, 50).await?.pop()
    } else {
        return Err(FieldViolation::new("case", "is required: the case, or the application in application").into());
    };
    let asked = if req.case.is_empty() { &req.application } else { &req.case };
    let case = row.map(|r| cases::view(&r)).transpose()?.ok_or_else(|| Error::NotFound(asked.clone()))?;
    match caller.confined_to() {
        Some(own) if !own.contains(&case.organization_number) => Err(Error::NotFound(asked.clone())),
        _ => Ok(case),
    }
}
