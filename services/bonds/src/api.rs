//! The bonds service's gRPC handlers: the register's mutations run under
//! its lock as one idempotent transaction each; the reports are read as of
//! a date and as known at a time.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use socialloans_contracts::bonds::{self as pb, bonds_service_server::BondsService};
use socialloans_documents::Language;
use socialloans_platform::{
    Caller, Reply,
    auth::open,
    error::FieldViolation,
    limits,
    pagination::{decode_position, encode_position, page_size},
    signing::SigningKey,
    unit,
};
use sqlx::{PgConnection, PgPool, Row};
use tonic::{Request, Response};

use crate::{
    error::Error,
    export, history, model, register,
    views::{self, day},
    vintages,
};

/// The bonds handlers.
#[derive(Debug, Clone)]
pub struct Api {
    /// The service's pool.
    pub pool: PgPool,
    /// The service's feed.
    pub feed: socialloans_platform::events::Feed,
    /// Signs published reports.
    pub key: SigningKey,
    /// BOND_HEADROOM_MARGIN_PERCENT.
    pub margin_percent: u32,
}

/// The most dates a forecast answers with.
const MAX_FORECAST_POINTS: usize = 1000;

fn today() -> NaiveDate {
    socialloans_platform::stockholm_date(Utc::now())
}

/// A required date field.
fn required_date(field: &str, date: Option<&socialloans_contracts::common::Date>) -> Result<NaiveDate, FieldViolation> {
    day(date).ok_or_else(|| FieldViolation::new(field, "is required: a calendar date"))
}

/// An optional date field; today when unset.
fn date_or_today(field: &str, date: Option<&socialloans_contracts::common::Date>) -> Result<NaiveDate, FieldViolation> {
    match date {
        None => Ok(today()),
        Some(_) => required_date(field, date),
    }
}

/// `bonds/{isin}` → the ISIN.
fn isin(name: &str) -> Result<String, FieldViolation> {
    name.strip_prefix("bonds/")
        .filter(|i| register::isin_valid(i))
        .map(str::to_owned)
        .ok_or_else(|| FieldViolation::new("name", "is required: bonds/{isin}"))
}

/// Reads in one transaction as known at `known_at` (checked: not in the
/// future), or as known now.
async fn as_known<T>(
    pool: &PgPool,
    known_at: Option<&prost_types::Timestamp>,
    read: impl AsyncFnOnce(&mut PgConnection, DateTime<Utc>) -> Result<T, sqlx::Error>,
) -> Result<T, Error> {
    let asked = known_at.map(|t| limits::time_field("known_at", t)).transpose()?;
    if asked.is_some_and(|t| t > Utc::now() + Duration::seconds(1)) {
        return Err(FieldViolation::new("known_at", "is not in the future").into());
    }
    let mut tx = pool.begin().await?;
    let known_at = match asked {
        Some(time) => time,
        None => history::now_known(&mut tx).await?,
    };
    let answer = read(&mut tx, known_at).await?;
    tx.commit().await?;
    Ok(answer)
}

fn report_request(as_of: Option<&socialloans_contracts::common::Date>) -> Result<NaiveDate, Error> {
    Ok(required_date("as_of", as_of)?)
}

impl Api {
    /// Runs `caller`'s mutation `req` as one idempotent transaction holding
    /// the register's lock.
    async fn locked<Answer: prost::Message + Default>(
        &self,
        caller: &Caller,
        req: &impl socialloans_platform::unit::Mutation,
        apply: impl AsyncFnOnce(&mut PgConnection) -> Result<Answer, Error>,
    ) -> Result<Response<Answer>, tonic::Status> {
        let answer = unit::run_simple(&self.pool, caller, req, async |conn| {
            history::lock_for_writing(conn).await?;
            apply(conn).await
        })
        .await?;
        Ok(Response::new(answer))
    }
}

#[tonic::async_trait]
impl BondsService for Api {
    type StreamEventsStream = socialloans_platform::events::FeedStream;

    async fn stream_events(
        &self,
        request: Request<socialloans_contracts::events::StreamEventsRequest>,
    ) -> Reply<Self::StreamEventsStream> {
        self.feed.serve(request).await
    }

    async fn issue_bond(&self, request: Request<pb::IssueBondRequest>) -> Reply<pb::IssueBondResponse> {
        let (caller, req) = open(request)?;
        let given = req.bond.clone().ok_or_else(|| Error::from(FieldViolation::new("bond", "is required")))?;
        let new = register::checked(&given, &req.override_reason)?;
        self.locked(&caller, &req, async |conn| {
            register::issue(conn, &caller, &new, &req.override_reason, self.margin_percent).await
        })
        .await
    }

    async fn approve_bond_override(
        &self,
        request: Request<pb::ApproveBondOverrideRequest>,
    ) -> Reply<pb::ApproveBondOverrideResponse> {
        let (caller, req) = open(request)?;
        let isin = isin(&req.name).map_err(Error::from)?;
        self.locked(&caller, &req, async |conn| {
            let bond = register::decide(conn, &caller, &isin, None, self.margin_percent).await?;
            Ok::<_, Error>(pb::ApproveBondOverrideResponse { bond: Some(bond) })
        })
        .await
    }

    async fn reject_bond_override(
        &self,
        request: Request<pb::RejectBondOverrideRequest>,
    ) -> Reply<pb::RejectBondOverrideResponse> {
        let (caller, req) = open(request)?;
        let isin = isin(&req.name).map_err(Error::from)?;
        if req.reason.trim().is_empty() || limits::unfit(&req.reason, 4000) {
            return Err(Error::from(FieldViolation::new("reason", "is required: at most 4000 characters")).into());
        }
        self.locked(&caller, &req, async |conn| {
            let bond = register::decide(conn, &caller, &isin, Some(req.reason.trim()), self.margin_percent).await?;
            Ok::<_, Error>(pb::RejectBondOverrideResponse { bond: Some(bond) })
        })
        .await
    }

    async fn record_redemption(
        &self,
        request: Request<pb::RecordRedemptionRequest>,
    ) -> Reply<pb::RecordRedemptionResponse> {
        let (caller, req) = open(request)?;
        let isin = isin(&req.name).map_err(Error::from)?;
        let given =
            req.redemption.clone().ok_or_else(|| Error::from(FieldViolation::new("redemption", "is required")))?;
        self.locked(&caller, &req, async |conn| {
            let bond = register::redeem(conn, &caller, &isin, &given, self.margin_percent).await?;
            Ok::<_, Error>(pb::RecordRedemptionResponse { bond: Some(bond) })
        })
        .await
    }

    async fn get_bond(&self, request: Request<pb::GetBondRequest>) -> Reply<pb::GetBondResponse> {
        let (_, req) = open(request)?;
        let isin = isin(&req.name).map_err(Error::from)?;
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let bond = register::bond(&mut conn, &isin).await.map_err(Error::from)?.ok_or(Error::NotFound(req.name))?;
        Ok(Response::new(pb::GetBondResponse { bond: Some(bond) }))
    }

    async fn list_bonds(&self, request: Request<pb::ListBondsRequest>) -> Reply<pb::ListBondsResponse> {
        let (_, req) = open(request)?;
        let size = page_size(req.page_size).map_err(Error::from)?;
        let after = decode_position::<String>("bonds", &req.page_token).map_err(Error::from)?;
        let (time, key) = after.map_or((None, String::new()), |(t, k)| (Some(t), k));
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let rows = sqlx::query(
            "SELECT isin, create_time FROM bonds.bond WHERE $1::timestamptz IS NULL OR (create_time, isin) > ($1, $2)
             ORDER BY create_time, isin LIMIT $3",
        )
        .bind(time)
        .bind(key)
        .bind(i64::from(size) + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::from)?;
        let mut bonds = Vec::new();
        let mut next_page_token = String::new();
        for (i, row) in rows.iter().enumerate() {
            let isin: String = row.try_get("isin").map_err(Error::from)?;
            if i == size as usize {
                let last = &rows[i - 1];
                let at: DateTime<Utc> = last.try_get("create_time").map_err(Error::from)?;
                next_page_token =
                    encode_position("bonds", at, &last.try_get::<String, _>("isin").map_err(Error::from)?);
                break;
            }
            bonds.extend(register::bond(&mut conn, &isin).await.map_err(Error::from)?);
        }
        Ok(Response::new(pb::ListBondsResponse { bonds, next_page_token }))
    }

    async fn get_headroom(&self, request: Request<pb::GetHeadroomRequest>) -> Reply<pb::GetHeadroomResponse> {
        let (_, req) = open(request)?;
        let as_of = date_or_today("as_of", req.as_of.as_ref()).map_err(Error::from)?;
        let margin = self.margin_percent;
        let headroom = as_known(&self.pool, req.known_at.as_ref(), async |conn, known_at| {
            let h = history::headroom(conn, as_of, known_at).await?;
            Ok(views::headroom(&h, as_of, known_at, margin))
        })
        .await?;
        Ok(Response::new(pb::GetHeadroomResponse { headroom: Some(headroom) }))
    }

    async fn forecast_headroom(
        &self,
        request: Request<pb::ForecastHeadroomRequest>,
    ) -> Reply<pb::ForecastHeadroomResponse> {
        let (_, req) = open(request)?;
        let today = today();
        let until = match req.until.as_ref() {
            None => today + chrono::Months::new(60),
            Some(_) => required_date("until", req.until.as_ref()).map_err(Error::from)?,
        };
        if until <= today || until > today + chrono::Months::new(600) {
            return Err(Error::from(FieldViolation::new("until", "is after today and at most 50 years from it")).into());
        }
        let margin = self.margin_percent;
        let answer = as_known(&self.pool, None, async |conn, known_at| {
            let now = history::headroom(conn, today, known_at).await?;
            let (loans, bonds) = history::schedule(conn, today, known_at).await?;
            let walked = crate::forecast::forecast(&loans, &bonds, today, until, MAX_FORECAST_POINTS);
            let mut first_shortfall_date =
                walked.iter().find(|p| p.headroom.headroom() < 0).map(|p| views::date(p.date));
            let points = walked
                .into_iter()
                .map(|p| pb::ForecastPoint {
                    date: Some(views::date(p.date)),
                    headroom: Some(views::headroom(&p.headroom, p.date, known_at, margin)),
                    changes: p.changes,
                })
                .collect();
            if now.headroom() < 0 {
                first_shortfall_date = Some(views::date(today));
            }
            Ok(pb::ForecastHeadroomResponse {
                today: Some(views::headroom(&now, today, known_at, margin)),
                points,
                first_shortfall_date,
            })
        })
        .await?;
        Ok(Response::new(answer))
    }

    async fn get_allocation_report(
        &self,
        request: Request<pb::GetAllocationReportRequest>,
    ) -> Reply<pb::GetAllocationReportResponse> {
        let (_, req) = open(request)?;
        let as_of = report_request(req.as_of.as_ref())?;
        let margin = self.margin_percent;
        let report = as_known(&self.pool, req.known_at.as_ref(), async |conn, known_at| {
            let snapshot = history::snapshot(conn, as_of, known_at).await?;
            Ok(views::allocation(&snapshot, &model::allocation(&snapshot), margin))
        })
        .await?;
        Ok(Response::new(pb::GetAllocationReportResponse { report: Some(report) }))
    }

    async fn get_investor_impact_report(
        &self,
        request: Request<pb::GetInvestorImpactReportRequest>,
    ) -> Reply<pb::GetInvestorImpactReportResponse> {
        let (_, req) = open(request)?;
        let as_of = report_request(req.as_of.as_ref())?;
        let report = as_known(&self.pool, req.known_at.as_ref(), async |conn, known_at| {
            let snapshot = history::snapshot(conn, as_of, known_at).await?;
            Ok(views::impact(&snapshot, &model::impact(&snapshot)))
        })
        .await?;
        Ok(Response::new(pb::GetInvestorImpactReportResponse { report: Some(report) }))
    }

    async fn export_investor_impact_report(
        &self,
        request: Request<pb::ExportInvestorImpactReportRequest>,
    ) -> Reply<pb::ExportInvestorImpactReportResponse> {
        let (_, req) = open(request)?;
        let mut violations = Vec::new();
        let as_of = required_date("as_of", req.as_of.as_ref()).map_err(|v| violations.push(v)).ok();
        let format = pb::ExportFormat::try_from(req.format).unwrap_or_default();
        if format == pb::ExportFormat::Unspecified {
            violations.push(FieldViolation::new("format", "is required: EXPORT_FORMAT_CSV or EXPORT_FORMAT_SVG"));
        }
        let language = match req.language {
            0 => Some(Language::English),
            asked => Language::asked(asked),
        };
        if language.is_none() {
            violations.push(FieldViolation::new("language", "is LANGUAGE_SWEDISH or LANGUAGE_ENGLISH"));
        }
        let (Some(as_of), Some(language), true) = (as_of, language, violations.is_empty()) else {
            return Err(Error::InvalidArgument(violations).into());
        };
        let report = as_known(&self.pool, req.known_at.as_ref(), async |conn, known_at| {
            let snapshot = history::snapshot(conn, as_of, known_at).await?;
            Ok(views::impact(&snapshot, &model::impact(&snapshot)))
        })
        .await?;
        let (content_type, extension, content) = if format == pb::ExportFormat::Csv {
            ("text/csv; charset=utf-8", "csv", export::csv(&report, language))
        } else {
            ("image/svg+xml", "svg", export::svg(&report, language))
        };
        let stem = if language == Language::Swedish { "investerarrapport" } else { "investor-impact" };
        Ok(Response::new(pb::ExportInvestorImpactReportResponse {
            content_type: content_type.into(),
            file_name: format!("{stem}-{as_of}.{extension}"),
            content: content.into_bytes(),
        }))
    }

    async fn publish_report(&self, request: Request<pb::PublishReportRequest>) -> Reply<pb::PublishReportResponse> {
        let (caller, req) = open(request)?;
        let mut violations = Vec::new();
        let kind = pb::ReportKind::try_from(req.kind).unwrap_or_default();
        if vintages::kind_word(kind).is_none() {
            violations.push(FieldViolation::new("kind", "is required: REPORT_KIND_ALLOCATION or REPORT_KIND_IMPACT"));
        }
        let as_of = required_date("as_of", req.as_of.as_ref()).map_err(|v| violations.push(v)).ok();
        if as_of.is_some_and(|d| d > today()) {
            violations.push(FieldViolation::new("as_of", "is not after today: a report is published on what happened"));
        }
        if limits::unfit(&req.restatement_reason, 4000) {
            violations.push(FieldViolation::new("restatement_reason", "is at most 4000 characters"));
        }
        let (Some(as_of), true) = (as_of, violations.is_empty()) else {
            return Err(Error::InvalidArgument(violations).into());
        };
        self.locked(&caller, &req, async |conn| {
            let vintage =
                vintages::publish(conn, &caller, kind, as_of, &req.restatement_reason, &self.key, self.margin_percent)
                    .await?;
            Ok::<_, Error>(pb::PublishReportResponse { vintage: Some(vintage) })
        })
        .await
    }

    async fn get_report_vintage(
        &self,
        request: Request<pb::GetReportVintageRequest>,
    ) -> Reply<pb::GetReportVintageResponse> {
        let (_, req) = open(request)?;
        let invalid = || Error::from(FieldViolation::new("name", "is required: reports/{kind}/{as_of}/vintages/{n}"));
        let parts: Vec<&str> = req.name.split('/').collect();
        let (word, as_of, number) = match parts.as_slice() {
            ["reports", word @ ("allocation" | "impact"), date, "vintages", n] => (
                *word,
                date.parse::<NaiveDate>().map_err(|_| invalid())?,
                n.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(invalid)?,
            ),
            _ => return Err(invalid().into()),
        };
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let vintage = vintages::vintage(&mut conn, word, as_of, number, true)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound(req.name))?;
        Ok(Response::new(pb::GetReportVintageResponse { vintage: Some(vintage) }))
    }

    async fn list_report_vintages(
        &self,
        request: Request<pb::ListReportVintagesRequest>,
    ) -> Reply<pb::ListReportVintagesResponse> {
        let (_, req) = open(request)?;
        let kind = pb::ReportKind::try_from(req.kind)
            .map_err(|_| Error::from(FieldViolation::new("kind", "is a ReportKind")))?;
        let as_of =
            req.as_of.as_ref().map(|_| required_date("as_of", req.as_of.as_ref())).transpose().map_err(Error::from)?;
        let word = vintages::kind_word(kind).unwrap_or_default();
        let query = format!("{word}|{as_of:?}");
        let size = page_size(req.page_size).map_err(Error::from)?;
        let before = decode_position::<String>(&query, &req.page_token).map_err(Error::from)?;
        let (time, key) = before.map_or((None, String::new()), |(t, k)| (Some(t), k));
        let mut conn = self.pool.acquire().await.map_err(Error::from)?;
        let rows = sqlx::query(
            "SELECT * FROM bonds.report_vintage
             WHERE ($1 = '' OR kind = $1) AND ($2::date IS NULL OR as_of = $2)
               AND ($3::timestamptz IS NULL OR (publish_time, kind || '/' || as_of || '/' || vintage) < ($3, $4))
             ORDER BY publish_time DESC, kind || '/' || as_of || '/' || vintage DESC LIMIT $5",
        )
        .bind(word)
        .bind(as_of)
        .bind(time)
        .bind(key)
        .bind(i64::from(size) + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::from)?;
        let mut vintages = Vec::new();
        let mut next_page_token = String::new();
        for (i, row) in rows.iter().enumerate() {
            if i == size as usize {
                let last = &rows[i - 1];
                let at: DateTime<Utc> = last.try_get("publish_time").map_err(Error::from)?;
                let key = format!(
                    "{}/{}/{}",
                    last.try_get::<String, _>("kind").map_err(Error::from)?,
                    last.try_get::<NaiveDate, _>("as_of").map_err(Error::from)?,
                    last.try_get::<i32, _>("vintage").map_err(Error::from)?
                );
                next_page_token = encode_position(&query, at, &key);
                break;
            }
            vintages.push(vintages::view(row, false).map_err(Error::from)?);
        }
        Ok(Response::new(pb::ListReportVintagesResponse { vintages, next_page_token }))
    }
}
