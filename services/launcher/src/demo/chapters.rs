//! The story's five chapters, each a step of the loan's life through the three services.

use super::*;
use socialloans_contracts::common;

impl Story<'_> {
    /// Chapter 1: both housing companies apply; one is returned for completion.
    pub(super) async fn apply(&mut self) -> Result<[String; 2], String> {
        let pilots = [pilots::botkyrkabyggen(), pilots::eidar()];
        self.chapter("1. Two housing companies apply").await;
        let mut applications = Vec::new();
        for (i, pilot) in pilots.iter().enumerate() {
            applications.push(self.draft_and_submit(i, pilot).await?);
        }
        let applications: [String; 2] = [applications[0].clone(), applications[1].clone()];
        self.return_and_complete(&applications[BOTKYRKA]).await?;
        for (i, name) in applications.iter().enumerate() {
            self.review_and_refer(i, name, &pilots[i]).await?;
        }
        Ok(applications)
    }

    /// A borrower drafts `pilot` and submits it; returns its name.
    async fn draft_and_submit(&mut self, i: usize, pilot: &ap::Application) -> Result<String, String> {
        let borrower = format!("{} (portal)", SHORT_NAMES[i]);
        let create = ap::CreateApplicationRequest { request_id: rid(), application: Some(pilot.clone()) };
        let created = answer(self.apps.create_application(self.borrower(ORGS[i], create)).await)?
            .application
            .ok_or("CreateApplication: no application")?;
        let amount = pilot.requested_amount.as_ref().map_or(0, |m| m.minor_units / 100);
        self.step(&borrower, &format!("drafts \"{}\"", truncate(&pilot.title, 40)), &app_state(created.state));
        self.step("", &format!("asks for {} ({})", sek(amount), category(pilot.category)), "");
        let submit = ap::SubmitApplicationRequest { name: created.name.clone(), etag: created.etag, request_id: rid() };
        answer(self.apps.submit_application(self.borrower(ORGS[i], submit)).await)?;
        self.moved(&created.name, ap::ApplicationState::Submitted, &borrower, "submits it").await?;
        Ok(created.name)
    }

    /// The analyst wants the tenant survey before reviewing Botkyrkabyggen's
    /// application: it is returned, completed and resubmitted.
    async fn return_and_complete(&mut self, name: &str) -> Result<(), String> {
        let app = self.application(name).await?;
        let back = ap::ReturnApplicationForCompletionRequest {
            name: app.name.clone(),
            etag: app.etag,
            request_id: rid(),
            comments: vec![common::FieldComment {
                field_path: "social_challenge".into(),
                comment: "Beskriv hur hyresgästerna har fått säga sitt om renoveringsnivån".into(),
            }],
            message: "Komplettera gärna innan vi granskar".into(),
        };
        answer(self.apps.return_application_for_completion(self.staff(Role::Analyst, back)).await)?;
        let app = self
            .moved(
                name,
                ap::ApplicationState::ReturnedForCompletion,
                "analyst",
                "returns it for completion: tenants' say?",
            )
            .await?;
        let edit = ap::UpdateApplicationRequest {
            request_id: rid(),
            application: Some(ap::Application {
                name: app.name.clone(),
                social_challenge: format!(
                    "{} Varje hushåll väljer själv renoveringsnivå och därmed hyra, efter boendedialog.",
                    app.social_challenge
                ),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["social_challenge".into()] }),
            etag: app.etag,
        };
        let edited = answer(self.apps.update_application(self.borrower(ORGS[BOTKYRKA], edit)).await)?
            .application
            .ok_or("UpdateApplication: no application")?;
        let submit = ap::SubmitApplicationRequest { name: edited.name.clone(), etag: edited.etag, request_id: rid() };
        answer(self.apps.submit_application(self.borrower(ORGS[BOTKYRKA], submit)).await)?;
        let app = self.expect_app(name, ap::ApplicationState::Submitted).await?;
        expect("submissions of Botkyrkabyggen's application", app.submission_count, 2)?;
        self.step("Botkyrkabyggen (portal)", "completes the description and resubmits", &app_state(app.state));
        Ok(())
    }

    /// The analyst reviews application `name`, the credit analyst approves
    /// the ordinary credit assessment, and the analyst refers it.
    async fn review_and_refer(&mut self, i: usize, name: &str, pilot: &ap::Application) -> Result<(), String> {
        let review = ap::StartReviewRequest { name: name.to_owned(), etag: String::new(), request_id: rid() };
        answer(self.apps.start_review(self.staff(Role::Analyst, review)).await)?;
        let reviews = format!("reviews {}'s application", SHORT_NAMES[i]);
        self.moved(name, ap::ApplicationState::UnderReview, "analyst", &reviews).await?;
        let credit = ap::RecordCreditAssessmentRequest {
            name: name.to_owned(),
            request_id: rid(),
            credit_assessment: Some(ap::CreditAssessment {
                outcome: ap::CreditAssessmentOutcome::Approved as i32,
                credit_limit: pilot.requested_amount.clone(),
                summary: "Ordinarie kreditprövning: kommunal borgen".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        answer(self.apps.record_credit_assessment(self.staff(Role::CreditAnalyst, credit)).await)?;
        let app = self.application(name).await?;
        let outcome = app.credit_assessment.as_ref().map(|c| c.outcome).unwrap_or_default();
        expect("credit assessment", outcome, ap::CreditAssessmentOutcome::Approved as i32)?;
        self.step("credit analyst", "approves the ordinary credit assessment", "credit approved");
        let refer = ap::ReferApplicationToCommitteeRequest {
            name: name.to_owned(),
            request_id: rid(),
            referral_note: "Komplett; de fem grundkraven är belagda".into(),
            ..Default::default()
        };
        answer(self.apps.refer_application_to_committee(self.staff(Role::Analyst, refer)).await)?;
        self.moved(name, ap::ApplicationState::ReferredToCommittee, "analyst", "refers it to the expert committee")
            .await?;
        Ok(())
    }

    /// Chapter 2: the committee meets, votes, decides, confirms and approves its minutes.
    pub(super) async fn committee_meets(
        &mut self,
        applications: &[String; 2],
        out: &Path,
    ) -> Result<([String; 2], String, std::path::PathBuf), String> {
        self.chapter("2. The expert committee meets").await;
        let carl = self.member("Carl", cm::MemberRole::Chair).await?;
        let lena = self.member("Lena", cm::MemberRole::Member).await?;
        let olof = self.member("Olof", cm::MemberRole::Member).await?;
        let maja = self.member("Maja", cm::MemberRole::Member).await?;
        self.member("Sara", cm::MemberRole::Secretary).await?;
        self.step("committee secretary", "the roster: Carl (chair), Lena, Olof, Maja; Sara", "5 members");
        let cases = self.cases_opened(applications).await?;
        let conflict = cm::DeclareConflictOfInterestRequest {
            parent: cases[BOTKYRKA].clone(),
            request_id: rid(),
            declaration: Some(cm::ConflictOfInterestDeclaration {
                member: lena.clone(),
                description: "Sitter i Botkyrkabyggens styrelse".into(),
                ..Default::default()
            }),
        };
        let request = self.as_("demo-lena", Role::CommitteeMember, None, conflict);
        answer(self.committee.declare_conflict_of_interest(request).await)?;
        let case = self.case(&cases[BOTKYRKA]).await?;
        expect("declared conflicts", case.conflicts_of_interest.len(), 1)?;
        self.step("Lena", "declares a conflict: sits on Botkyrkabyggen's board", "recused");
        for case in &cases {
            self.assess_all(case).await?;
        }
        self.step("committee secretary", "assesses the five basic requirements: all met", "assessed");
        let meeting = self.meeting(&cases, &[&carl, &lena, &olof, &maja]).await?;
        self.step("chair", "opens the meeting; 4 present, quorum 3", "in session");
        self.vote(&cases).await?;
        self.decide(&cases).await?;
        let adjourn = cm::AdjournMeetingRequest { name: meeting.clone(), request_id: rid(), ..Default::default() };
        let request = self.as_("demo-carl", Role::CommitteeChair, None, adjourn);
        let adjourned = answer(self.committee.adjourn_meeting(request).await)?.meeting.ok_or("no meeting")?;
        self.step("Carl (chair)", "adjourns the meeting; the minutes are written in Swedish", "adjourned");
        let approved = self.justera(&meeting, &olof).await?;
        expect("the minutes' draft was written", adjourned.minutes.is_empty(), false)?;
        let minutes_file = out.join(format!("protokoll-{}.md", meeting.rsplit('/').next().unwrap_or("meeting")));
        std::fs::write(&minutes_file, &approved.minutes).map_err(|e| format!("{}: {e}", minutes_file.display()))?;

        Ok((cases, meeting, minutes_file))
    }

    /// The applications feed opens a case per referral; returns their names.
    async fn cases_opened(&mut self, applications: &[String; 2]) -> Result<[String; 2], String> {
        let mut cases = Vec::new();
        for (i, application) in applications.iter().enumerate() {
            let application = application.clone();
            let case = self
                .eventually("the committee case for the referral", async |s: &mut Self| {
                    let request = cm::ListCasesRequest { application: application.clone(), ..Default::default() };
                    let request = s.staff(Role::CommitteeSecretary, request);
                    Ok(answer(s.committee.list_cases(request).await)?.cases.into_iter().next())
                })
                .await?;
            expect("a new case's state", case.state, cm::CaseState::Open as i32)?;
            self.step("(applications feed)", &format!("opens the case for {}", SHORT_NAMES[i]), "open");
            cases.push(case.name);
        }
        Ok([cases[0].clone(), cases[1].clone()])
    }

    /// The members present vote on both cases; Maja dissents on Botkyrkabyggen's.
    async fn vote(&mut self, cases: &[String; 2]) -> Result<(), String> {
        let votes: [&[(&str, cm::VoteChoice, &str)]; 2] = [
            &[
                ("carl", cm::VoteChoice::ApproveWithConditions, ""),
                ("olof", cm::VoteChoice::ApproveWithConditions, ""),
                ("maja", cm::VoteChoice::Decline, "Risk för hyreshöjningar"),
            ],
            &[
                ("carl", cm::VoteChoice::Approve, ""),
                ("lena", cm::VoteChoice::Approve, ""),
                ("olof", cm::VoteChoice::Approve, ""),
                ("maja", cm::VoteChoice::Approve, ""),
            ],
        ];
        for (i, case) in cases.iter().enumerate() {
            for (who, choice, comment) in votes[i] {
                let vote = cm::Vote { choice: *choice as i32, comment: (*comment).into(), ..Default::default() };
                let request = cm::CastVoteRequest { parent: case.clone(), request_id: rid(), vote: Some(vote) };
                let request = self.as_(&format!("demo-{who}"), Role::CommitteeMember, None, request);
                answer(self.committee.cast_vote(request).await)?;
            }
            let request = self
                .staff(Role::CommitteeSecretary, cm::ListVotesRequest { parent: case.clone(), ..Default::default() });
            let cast = answer(self.committee.list_votes(request).await)?.votes.len();
            expect("votes cast", cast, votes[i].len())?;
            let tally =
                votes[i].iter().map(|(who, choice, _)| format!("{who}: {}", short_vote(*choice))).collect::<Vec<_>>();
            self.step("members", &format!("vote on {}", SHORT_NAMES[i]), &tally.join(", "));
        }
        Ok(())
    }

    /// The secretary records each decision and the chair confirms it (four eyes).
    async fn decide(&mut self, cases: &[String; 2]) -> Result<(), String> {
        let covenant = cm::Condition {
            id: "c1".into(),
            kind: common::ConditionKind::ReportingCovenant as i32,
            description: "Rapportera andel kvarboende årligen".into(),
            due_date: Some(common::Date { year: 2027, month: 3, day: 31 }),
        };
        let decisions = [
            cm::Decision {
                outcome: cm::DecisionOutcome::ApproveWithConditions as i32,
                approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: 400_000_000 * 100 }),
                conditions: vec![covenant],
                rationale: "Uppfyller grundkraven; kvarboendet ska följas upp".into(),
                ..Default::default()
            },
            cm::Decision {
                outcome: cm::DecisionOutcome::Approve as i32,
                approved_amount: Some(common::Money { currency_code: "SEK".into(), minor_units: 75_000_000 * 100 }),
                rationale: "Ett levande centrum ger trygghet och närservice".into(),
                ..Default::default()
            },
        ];
        for (i, decision) in decisions.into_iter().enumerate() {
            let amount = decision.approved_amount.as_ref().map_or(0, |m| m.minor_units / 100);
            let outcome = short(cm::DecisionOutcome::try_from(decision.outcome).unwrap_or_default().as_str_name());
            let request = cm::RecordDecisionRequest {
                parent: cases[i].clone(),
                request_id: rid(),
                decision: Some(decision),
                ..Default::default()
            };
            let request = self.as_("demo-sara", Role::CommitteeSecretary, None, request);
            let recorded =
                answer(self.committee.record_decision(request).await)?.decision.ok_or("RecordDecision: no decision")?;
            self.step("Sara (secretary)", &format!("records: {outcome} — {}", sek(amount)), "recorded");
            let confirm =
                cm::ConfirmDecisionRequest { name: recorded.name.clone(), request_id: rid(), ..Default::default() };
            let request = self.as_("demo-carl", Role::CommitteeChair, None, confirm);
            answer(self.committee.confirm_decision(request).await)?;
            let case = self.case(&cases[i]).await?;
            expect("the case after confirmation", case.state, cm::CaseState::Decided as i32)?;
            self.step("Carl (chair)", &format!("confirms the decision on {} (four eyes)", SHORT_NAMES[i]), "decided");
        }
        Ok(())
    }

    /// Chapter 3: the decisions reach the applications; core banking tags the loans.
    pub(super) async fn decisions_reach_the_applications(&mut self, applications: &[String; 2]) -> Result<(), String> {
        self.chapter("3. The decisions reach the applications; core banking pays out").await;
        let wanted = [ap::ApplicationState::ApprovedWithConditions, ap::ApplicationState::Approved];
        for (i, name) in applications.iter().enumerate() {
            let name = name.clone();
            let want = wanted[i];
            let app = self
                .eventually("the committee's decision reaching the application", async |s: &mut Self| {
                    let app = s.application(&name).await?;
                    Ok((app.state == want as i32).then_some(app))
                })
                .await?;
            let discount = app.pricing_discount_bps;
            self.step(
                "(committee feed)",
                &format!("{}: decision applied, {discount} bp discount", SHORT_NAMES[i]),
                &app_state(app.state),
            );
        }
        let loans = [("KI-2001", 400_000_000, 2036), ("KI-1001", 75_000_000, 2031)];
        for (i, (series, kronor, maturity)) in loans.into_iter().enumerate() {
            let loan_id = &loan_id(series, &applications[i]);
            let tag = ap::TagLoanRequest {
                name: applications[i].clone(),
                request_id: rid(),
                loan: Some(ap::LoanTag {
                    loan_id: loan_id.into(),
                    principal: pilots::sek(kronor),
                    disbursement_date: Some(common::Date { year: 2026, month: 12, day: 1 }),
                    maturity_date: Some(common::Date { year: maturity, month: 6, day: 30 }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            answer(self.apps.tag_loan(self.staff(Role::CoreBanking, tag)).await)?;
            let tags = format!("tags loan {loan_id}: {} to {maturity}", sek(kronor));
            self.moved(&applications[i], ap::ApplicationState::Active, "core banking", &tags).await?;
        }

        Ok(())
    }

    /// Chapter 6: Botkyrkabyggen's loan is amortised, then rolled over at
    /// maturity into a new loan for what it still owed: the cap counts what
    /// is outstanding, so the refinancing fits the approved amount.
    pub(super) async fn the_loans_life(&mut self, applications: &[String; 2]) -> Result<(), String> {
        self.chapter("6. The loan's life: amortised, then refinanced at maturity").await;
        let name = &applications[0];
        let (old, new) = (loan_id("KI-2001", name), loan_id("KI-2002", name));
        let amortised = ap::RecordLoanEventRequest {
            name: name.clone(),
            request_id: rid(),
            loan_id: old.clone(),
            event: Some(ap::record_loan_event_request::Event::Amortisation(ap::LoanAmortisation {
                outstanding_principal: pilots::sek(380_000_000),
                date: Some(common::Date { year: 2031, month: 6, day: 30 }),
            })),
            ..Default::default()
        };
        answer(self.apps.record_loan_event(self.staff(Role::CoreBanking, amortised)).await)?;
        self.step("core banking", &format!("amortises {old}: {} outstanding", sek(380_000_000)), "");
        let rollover = ap::TagLoanRequest {
            name: name.clone(),
            request_id: rid(),
            loan: Some(ap::LoanTag {
                loan_id: new.clone(),
                refinances_loan_id: old.clone(),
                principal: pilots::sek(380_000_000),
                disbursement_date: Some(common::Date { year: 2036, month: 6, day: 30 }),
                maturity_date: Some(common::Date { year: 2041, month: 6, day: 30 }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let app = answer(self.apps.tag_loan(self.staff(Role::CoreBanking, rollover)).await)?.application;
        let loans = app.map(|a| a.loans).unwrap_or_default();
        let refinanced = loans.iter().any(|l| l.loan_id == old && l.state == ap::LoanState::Refinanced as i32);
        if !refinanced {
            return Err(format!("{old} was not marked refinanced"));
        }
        let what = format!("refinances {old} at maturity with {new}: {} to 2041", sek(380_000_000));
        self.step("core banking", &what, &format!("{} loans in the history", loans.len()));
        Ok(())
    }

    /// Chapter 4: two years of outcome reports, and the reporting covenant fulfilled.
    pub(super) async fn two_years_of_outcomes(
        &mut self,
        applications: &[String; 2],
    ) -> Result<Vec<mo::MonitoringPlan>, String> {
        self.chapter("4. Two years of outcomes").await;
        let mut plans = Vec::new();
        for (i, application) in applications.iter().enumerate() {
            let application = application.clone();
            let plan = self
                .eventually("the monitoring plan's activation", async |s: &mut Self| {
                    let request =
                        mo::ListMonitoringPlansRequest { application: application.clone(), ..Default::default() };
                    let request = s.staff(Role::ReportReviewer, request);
                    let plans = answer(s.monitoring.list_monitoring_plans(request).await)?.monitoring_plans;
                    Ok(plans.into_iter().find(|p| p.state == mo::MonitoringPlanState::Active as i32))
                })
                .await?;
            let periods = plan.reporting_periods.len();
            self.step(
                "(applications feed)",
                &format!("{}: monitoring plan active, {periods} yearly reports due", SHORT_NAMES[i]),
                "active",
            );
            plans.push(plan);
        }
        self.botkyrka_reports(&plans[BOTKYRKA], 0..1).await?;
        self.eidar_reports(&plans[EIDAR]).await?;
        self.reminder(&plans[BOTKYRKA]).await?;
        self.botkyrka_reports(&plans[BOTKYRKA], 1..2).await?;
        self.covenant_fulfilled(&plans[BOTKYRKA]).await?;
        Ok(plans)
    }

    /// Botkyrkabyggen's reports for `years` (of its two), each accepted at once.
    async fn botkyrka_reports(
        &mut self,
        plan: &mo::MonitoringPlan,
        years: std::ops::Range<usize>,
    ) -> Result<(), String> {
        // Botkyrkabyggen: tenants remaining 78 % then 91 % (target 90 %); homes 120 then 300 of 380.
        let botkyrka_years = [(78.0, 120.0, 410), (91.0, 300.0, 640)];
        for (year, (share, homes, reached)) in botkyrka_years.into_iter().enumerate().filter(|(y, _)| years.contains(y))
        {
            let values = vec![
                value("tenants_remaining_share", share, "percent", "Hyresgästregistret"),
                value("homes_renovated", homes, "homes", "Slutbesiktningar"),
            ];
            let reach = vec![mo::TargetGroupReach {
                population: common::TargetPopulation::LowIncome as i32,
                people_reached: reached,
                description: "Hushåll i renoverade hus".into(),
            }];
            let period = plan.reporting_periods[year].end_date;
            let report = self.report(&plan.name, ORGS[BOTKYRKA], period, values, reach).await?;
            self.submit(&report, ORGS[BOTKYRKA]).await?;
            self.accept(&report).await?;
            self.step(
                "Botkyrkabyggen → reviewer",
                &format!("year {}: {share} % remain, {homes} homes, {reached} reached", year + 1),
                "accepted",
            );
        }
        Ok(())
    }

    /// AB Eidar's first year is returned for a missing source and corrected;
    /// the second is accepted at once.
    async fn eidar_reports(&mut self, plan: &mo::MonitoringPlan) -> Result<(), String> {
        // AB Eidar: 40 jobs reported without a source, returned, corrected to 42; then 85.
        let period = plan.reporting_periods[0].end_date;
        let first = self
            .report(&plan.name, ORGS[EIDAR], period, vec![value("jobs_created", 40.0, "jobs", "Räkning")], vec![])
            .await?;
        self.submit(&first, ORGS[EIDAR]).await?;
        let back = mo::ReturnOutcomeReportRequest {
            name: first.clone(),
            request_id: rid(),
            comments: vec![common::FieldComment {
                field_path: "indicator_values[0].source".into(),
                comment: "Ange källa för antalet arbetsplatser".into(),
            }],
            ..Default::default()
        };
        let returned = answer(self.monitoring.return_outcome_report(self.staff(Role::ReportReviewer, back)).await)?
            .outcome_report
            .ok_or("no report")?;
        expect("the returned report", returned.state, mo::OutcomeReportState::Returned as i32)?;
        self.step("report reviewer", "returns Eidar's year 1: \"ange källa\"", "returned");
        let fix = mo::UpdateOutcomeReportRequest {
            request_id: rid(),
            outcome_report: Some(mo::OutcomeReport {
                name: first.clone(),
                indicator_values: vec![mo::IndicatorValue {
                    source: "Lönelistor från hyresgästerna i centrumet".into(),
                    ..value("jobs_created", 42.0, "jobs", "Räkning")
                }],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["indicator_values".into()] }),
            etag: returned.etag,
        };
        answer(self.monitoring.update_outcome_report(self.borrower(ORGS[EIDAR], fix)).await)?;
        self.submit(&first, ORGS[EIDAR]).await?;
        let accepted = self.accept(&first).await?;
        expect("versions of Eidar's year-1 report", accepted.version, 2)?;
        self.step("AB Eidar → reviewer", "year 1 corrected: 42 jobs, with source (version 2)", "accepted");
        let period = plan.reporting_periods[1].end_date;
        let reach = vec![mo::TargetGroupReach {
            population: common::TargetPopulation::GeneralPublic as i32,
            people_reached: 3_200,
            description: "Besökare i centrumet".into(),
        }];
        let second = self
            .report(&plan.name, ORGS[EIDAR], period, vec![value("jobs_created", 85.0, "jobs", "Lönelistor")], reach)
            .await?;
        self.submit(&second, ORGS[EIDAR]).await?;
        self.accept(&second).await?;
        self.step("AB Eidar → reviewer", "year 2: 85 jobs, 3 200 visitors reached", "accepted");
        // A year on, the label is re-assessed from the accepted reports and kept.
        let keep = mo::ReassessSocialLabelRequest {
            name: plan.name.clone(),
            request_id: rid(),
            outcome: mo::LabelReassessmentOutcome::Retained as i32,
            rationale: "42 och 85 arbetsplatser enligt accepterade rapporter; inga villkor brutna".into(),
            ..Default::default()
        };
        let kept = answer(self.monitoring.reassess_social_label(self.staff(Role::Analyst, keep)).await)?;
        let label = kept.monitoring_plan.and_then(|p| p.social_label).ok_or("no label")?;
        expect("Eidar's label", label.state, mo::SocialLabelState::Labelled as i32)?;
        let grounds = label.reassessments.last().map_or(0, |r| r.outcome_reports.len());
        expect("accepted reports behind Eidar's re-assessment", grounds, 2)?;
        self.step("analyst", "re-assesses Eidar's social label from both years: kept", "labelled");
        Ok(())
    }

    /// Botkyrkabyggen's reporting covenant: proposed by one, confirmed by another.
    async fn covenant_fulfilled(&mut self, plan: &mo::MonitoringPlan) -> Result<(), String> {
        let condition = format!("{}/conditions/c1", plan.name);
        let fulfil = |note: &str| mo::FulfilConditionRequest {
            name: condition.clone(),
            request_id: rid(),
            note: note.into(),
            ..Default::default()
        };
        let request =
            self.as_("demo-anna", Role::ReportReviewer, None, fulfil("Två årsrapporter om kvarboende godkända"));
        answer(self.monitoring.fulfil_condition(request).await)?;
        let request = self.as_("demo-bertil", Role::Analyst, None, fulfil("Bekräftat"));
        let fulfilled = answer(self.monitoring.fulfil_condition(request).await)?.condition.ok_or("no condition")?;
        expect("the covenant", fulfilled.state, mo::ConditionState::Fulfilled as i32)?;
        self.step("Anna, then Bertil", "the reporting covenant: proposed, then confirmed", "fulfilled");
        Ok(())
    }

    /// Chapter 5: each plan's progress, and the portfolio impact report, exported.
    pub(super) async fn progress_and_portfolio(
        &mut self,
        plans: &[mo::MonitoringPlan],
        out: &Path,
    ) -> Result<(mo::PortfolioImpactReport, Vec<std::path::PathBuf>), String> {
        // The story's second reporting year ends on 31 December of next year; look back from there.
        let as_of = plans[BOTKYRKA].reporting_periods[1].end_date;
        let day = as_of.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default();
        self.chapter(&format!("5. Progress and the portfolio impact report, as of {day}")).await;
        for (i, plan) in plans.iter().enumerate() {
            let request =
                self.staff(Role::ReportReviewer, mo::GetPlanProgressRequest { name: plan.name.clone(), as_of });
            let progress =
                answer(self.monitoring.get_plan_progress(request).await)?.plan_progress.ok_or("no progress")?;
            expect("accepted reports", progress.accepted_report_count, 2)?;
            for indicator in &progress.indicators {
                let status = short(mo::ProgressStatus::try_from(indicator.status).unwrap_or_default().as_str_name());
                let share = indicator.progress_ratio.map_or("—".into(), |r| format!("{:.0} % of the way", r * 100.0));
                self.step(
                    SHORT_NAMES[i],
                    &format!(
                        "{}: {} → {} ({share})",
                        indicator.indicator_code,
                        indicator.baseline.as_ref().map_or(0.0, |b| b.value),
                        indicator.latest_value.unwrap_or_default()
                    ),
                    &status,
                );
            }
        }
        let request = self.staff(Role::Auditor, mo::GetPortfolioImpactReportRequest { as_of, ..Default::default() });
        let portfolio = answer(self.monitoring.get_portfolio_impact_report(request).await)?
            .portfolio_impact_report
            .ok_or("no report")?;
        let amount = |m: &Option<common::Money>| m.as_ref().map_or(0, |m| m.minor_units / 100);
        self.step(
            "auditor",
            &format!(
                "portfolio: {} projects, approved {}",
                portfolio.plan_count,
                sek(amount(&portfolio.approved_amount))
            ),
            &format!("tagged {}", sek(amount(&portfolio.tagged_loan_amount))),
        );
        for group in &portfolio.by_target_group {
            let population =
                short(common::TargetPopulation::try_from(group.population).unwrap_or_default().as_str_name());
            self.step(
                "",
                &format!("{population}: {} people reached", group.people_reached),
                &format!("of {} estimated", group.estimated_people),
            );
        }
        let mut files = Vec::new();
        for format in [mo::ExportFormat::Csv, mo::ExportFormat::Svg] {
            let request = mo::ExportPortfolioImpactReportRequest { as_of, format: format as i32, ..Default::default() };
            let file =
                answer(self.monitoring.export_portfolio_impact_report(self.staff(Role::Auditor, request)).await)?;
            let path = out.join(&file.file_name);
            std::fs::write(&path, &file.content).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(path);
        }
        self.step("auditor", "exports the report as CSV and as a chart", "written");
        Ok((portfolio, files))
    }
}

/// The loan id of `series` for `application`: a loan finances one
/// application, so each run of the story has loans of its own.
fn loan_id(series: &str, application: &str) -> String {
    let run = application.get(application.len().saturating_sub(6)..).unwrap_or_default();
    format!("{series}-{run}")
}
