//! The story's chapter on the lender's side of the money: a SEK social
//! bond issued against the two pilot loans (the invariant holds, the
//! headroom shown), the forecast of the pool as loans mature and are
//! amortised, Botkyrkabyggen's amortisation lowering the pool, a bond
//! that would exceed the pool refused, and the allocation and investor
//! impact reports produced, published as signed vintages and reproduced.

use std::path::{Path, PathBuf};

use socialloans_contracts::bonds::{self as bo};
use socialloans_contracts::common::{self, Money};
use socialloans_platform::Role;

use super::{Story, answer, expect, rid, sek};

fn date(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

fn kronor(money: &Option<Money>) -> i64 {
    money.as_ref().map_or(0, |m| m.minor_units / 100)
}

fn today() -> chrono::NaiveDate {
    socialloans_platform::stockholm_date(chrono::Utc::now())
}

fn contract_date(day: chrono::NaiveDate) -> Option<common::Date> {
    Some(bonds::views::date(day))
}

impl Story<'_> {
    /// Chapter 7: the bond register (when the suite has a bonds service);
    /// the reports are written to `out`.
    pub(super) async fn the_bonds(&mut self, applications: &[String; 2], out: &Path) -> Result<Vec<PathBuf>, String> {
        self.chapter("7. The lender's side of the money: a social bond and its reports").await;
        let Some(mut bonds) = self.bonds.clone() else {
            self.step("(suite)", "no bonds service named: no bond is issued", "skipped");
            return Ok(Vec::new());
        };
        // The pilots' loans reach the pool through the applications feed.
        let ours: Vec<String> = applications.to_vec();
        let report = self
            .eventually("the pilot loans in the pool", async |s: &mut Self| {
                let request = bo::GetAllocationReportRequest { as_of: contract_date(today()), known_at: None };
                let report = answer(bonds.get_allocation_report(s.staff(Role::Treasury, request)).await)?.report;
                let report = report.unwrap_or_default();
                let found = ours.iter().all(|a| report.loans.iter().any(|l| &l.application == a));
                Ok(found.then_some(report))
            })
            .await?;
        let before = report.headroom.unwrap_or_default();
        self.step("(applications feed)", "the two pilot loans are in the eligible pool", &sek(kronor(&before.pool)));

        // A SEK bond of 400 MSEK, issued against them.
        let run = applications[0].replace('-', "").to_uppercase();
        let isin = bonds::register::isin_of(&format!("SE{}", &run[run.len() - 9..])).ok_or("no ISIN for this run")?;
        let bond = bo::Bond {
            isin: isin.clone(),
            display_name: "Social Bond 2031".into(),
            nominal: Some(Money { currency_code: "SEK".into(), minor_units: 400_000_000 * 100 }),
            issue_date: date(2026, 12, 1),
            maturity_date: date(2031, 12, 1),
            ..Default::default()
        };
        let request = bo::IssueBondRequest { request_id: rid(), bond: Some(bond), override_reason: String::new() };
        let issued = answer(bonds.issue_bond(self.staff(Role::Treasury, request)).await)?;
        let headroom = issued.headroom.unwrap_or_default();
        self.step(
            "treasury",
            &format!("issues {isin}: {}", sek(400_000_000)),
            &format!("headroom {}", sek(kronor(&headroom.headroom))),
        );

        // The forecast: the pool as the loans mature and amortise.
        let request = bo::ForecastHeadroomRequest { until: date(2037, 1, 1) };
        let forecast = answer(bonds.forecast_headroom(self.staff(Role::Treasury, request)).await)?;
        let shortfall = forecast.first_shortfall_date.map(|d| format!("{}-{:02}-{:02}", d.year, d.month, d.day));
        let said = shortfall.map_or("never before 2037".to_owned(), |d| format!("first short on {d}"));
        self.step("treasury", &format!("forecasts {} maturity dates", forecast.points.len()), &said);

        // Botkyrkabyggen's amortisation (chapter 6) lowers the pool from 2031-06-30.
        let on = |as_of| bo::GetHeadroomRequest { as_of, known_at: None };
        let day_before = answer(bonds.get_headroom(self.staff(Role::Analyst, on(date(2031, 6, 29)))).await)?.headroom;
        let after = answer(bonds.get_headroom(self.staff(Role::Analyst, on(date(2031, 7, 1)))).await)?.headroom;
        let (day_before, after) = (day_before.unwrap_or_default(), after.unwrap_or_default());
        let lowered = format!("{} → {}", sek(kronor(&day_before.pool)), sek(kronor(&after.pool)));
        self.step("(applications feed)", "Botkyrkabyggen's amortisation lowers the pool", &lowered);

        // A EUR bond larger than the whole pool is refused (with room to spare for
        // other stories' loans arriving meanwhile).
        let pool = kronor(&headroom.pool).max(0);
        let euros = (pool * 100 / 1145 / 100_000_000 + 3) * 100_000_000;
        let euro_isin = bonds::register::isin_of(&format!("XS{}", &run[run.len() - 9..])).ok_or("no ISIN")?;
        let euro = bo::Bond {
            isin: euro_isin,
            nominal: Some(Money { currency_code: "EUR".into(), minor_units: euros * 100 }),
            issue_date: date(2026, 12, 1),
            maturity_date: date(2029, 12, 1),
            exchange_rate: "11.45".into(),
            ..Default::default()
        };
        let request = bo::IssueBondRequest { request_id: rid(), bond: Some(euro), override_reason: String::new() };
        match bonds.issue_bond(self.staff(Role::Treasury, request)).await {
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                self.step("treasury", &format!("tries EUR {euros} more at 11.45"), "refused: would exceed the pool")
            }
            other => return Err(format!("a bond above the pool was not refused: {other:?}")),
        }
        self.reports(&mut bonds, out).await
    }

    /// The allocation and investor impact reports, published as signed
    /// vintages, reproduced as known when published, and written to `out`.
    async fn reports(&mut self, bonds: &mut super::BondsClient, out: &Path) -> Result<Vec<PathBuf>, String> {
        let as_of = today();
        let mut files = Vec::new();
        for kind in [bo::ReportKind::Allocation, bo::ReportKind::Impact] {
            let request = bo::PublishReportRequest {
                request_id: rid(),
                kind: kind as i32,
                as_of: contract_date(as_of),
                restatement_reason: "Published again by the story".into(),
            };
            let vintage = match bonds.publish_report(self.staff(Role::Treasury, request)).await {
                Ok(published) => published.into_inner().vintage.unwrap_or_default(),
                // Published already by a story alongside, with nothing changed since: read that vintage.
                Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                    let request = bo::ListReportVintagesRequest {
                        kind: kind as i32,
                        as_of: contract_date(as_of),
                        page_size: 1,
                        ..Default::default()
                    };
                    let listed = answer(bonds.list_report_vintages(self.staff(Role::Auditor, request)).await)?;
                    let name = listed.vintages.first().map(|v| v.name.clone()).unwrap_or_default();
                    let request = bo::GetReportVintageRequest { name };
                    answer(bonds.get_report_vintage(self.staff(Role::Auditor, request)).await)?
                        .vintage
                        .unwrap_or_default()
                }
                Err(status) => return Err(format!("PublishReport: {:?} {}", status.code(), status.message())),
            };
            let signature = vintage.signature.clone().unwrap_or_default();
            let verified = socialloans_platform::signing::verify(
                &signature.public_key,
                &signature.signed_message,
                &signature.signature,
            );
            expect("the vintage's signature verifies", verified, true)?;
            // Asked for again as known when published, the report is the same.
            let same = if kind == bo::ReportKind::Allocation {
                let request =
                    bo::GetAllocationReportRequest { as_of: contract_date(as_of), known_at: vintage.known_at };
                answer(bonds.get_allocation_report(self.staff(Role::Auditor, request)).await)?.report
                    == vintage.allocation
            } else {
                let request =
                    bo::GetInvestorImpactReportRequest { as_of: contract_date(as_of), known_at: vintage.known_at };
                answer(bonds.get_investor_impact_report(self.staff(Role::Auditor, request)).await)?.report
                    == vintage.impact
            };
            expect("the report reproduced as known when published", same, true)?;
            let text: String = vintage.figures.iter().map(|f| format!("{}={}\n", f.key, f.value)).collect();
            let file = out.join(format!("{}.txt", vintage.name.replace('/', "-")));
            let signed = format!(
                "{text}\n# digest {}\n# signed {}\n# signature {}\n# public key {}\n",
                vintage.digest,
                signature.signed_message.replace('\n', " | "),
                signature.signature,
                signature.public_key
            );
            std::fs::write(&file, signed).map_err(|e| format!("{}: {e}", file.display()))?;
            let what = format!("publishes {}", vintage.name);
            self.step("treasury", &what, &format!("signed by key {}, reproduced", signature.key_id));
            files.push(file);
        }
        for (language, format, extension) in [
            (common::Language::Swedish, bo::ExportFormat::Csv, "csv"),
            (common::Language::English, bo::ExportFormat::Svg, "svg"),
        ] {
            let request = bo::ExportInvestorImpactReportRequest {
                as_of: contract_date(as_of),
                format: format as i32,
                language: language as i32,
                ..Default::default()
            };
            let export = answer(bonds.export_investor_impact_report(self.staff(Role::Analyst, request)).await)?;
            let file = out.join(&export.file_name);
            std::fs::write(&file, &export.content).map_err(|e| format!("{}: {e}", file.display()))?;
            self.step("investor relations", &format!("exports the investor report ({extension})"), &export.file_name);
            files.push(file);
        }
        Ok(files)
    }
}
