//! The bond register: issues checked against the pool ("lending precedes
//! funding"), overrides with four eyes, redemptions and buy-backs.

use chrono::{DateTime, NaiveDate, Utc};
use socialloans_contracts::bonds as pb;
use socialloans_contracts::common::{Actor, Money};
use socialloans_platform::{Caller, error::FieldViolation, events::outbox, limits, timestamp};
use sqlx::{PgConnection, Row};
use tonic::Code;

use crate::{
    error::Error,
    history, model,
    views::{self, day, rate_text},
    watch,
};

/// Whether `isin` is an ISIN (ISO 6166): two letters, nine letters or
/// digits, and the check digit of the Luhn algorithm over the digits with
/// each letter written as its number (A = 10 … Z = 35).
pub fn isin_valid(isin: &str) -> bool {
    let bytes = isin.as_bytes();
    if bytes.len() != 12
        || !bytes[..2].iter().all(u8::is_ascii_uppercase)
        || !bytes[2..11].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !bytes[11].is_ascii_digit()
    {
        return false;
    }
    let digits: Vec<u32> = bytes
        .iter()
        .flat_map(|&b| {
            let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
            if value >= 10 { vec![value / 10, value % 10] } else { vec![value] }
        })
        .collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// The ISIN of the eleven characters `stem` (country code and national
/// number), with its check digit; `None` when `stem` is not of that form.
pub fn isin_of(stem: &str) -> Option<String> {
    (0..10).map(|digit| format!("{stem}{digit}")).find(|isin| isin_valid(isin))
}

/// An exchange rate's text as millionths: a decimal with at most six
/// decimals, greater than zero and at most 1000.
pub fn parse_rate(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 4
        || fraction.len() > 6
        || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let micros = whole.parse::<i64>().ok()? * 1_000_000 + format!("{fraction:0<6}").parse::<i64>().ok()?;
    (1..=1_000_000_000).contains(&micros).then_some(micros)
}

/// A bond to issue, checked.
#[derive(Debug, Clone)]
pub struct NewBond {
    /// The ISIN.
    pub isin: String,
    /// Its name.
    pub display_name: String,
    /// SEK, EUR or USD.
    pub currency: String,
    /// Minor units.
    pub nominal: i64,
    /// Issue date.
    pub issue: NaiveDate,
    /// Maturity date.
    pub maturity: NaiveDate,
    /// SEK per unit, millionths.
    pub rate_micros: i64,
}

/// The largest nominal, in minor units.
pub const MAX_NOMINAL: i64 = 1_000_000_000_000_000;

/// `given` checked, every bad field named.
pub fn checked(given: &pb::Bond, override_reason: &str) -> Result<NewBond, Error> {
    let mut violations = Vec::new();
    let isin = given.isin.trim().to_owned();
    if !isin_valid(&isin) {
        violations
            .push(FieldViolation::new("bond.isin", "is required: an ISIN, e.g. SE0017160872, with its check digit"));
    }
    if limits::unfit(&given.display_name, 200) {
        violations.push(FieldViolation::new("bond.display_name", "is at most 200 characters"));
    }
    let nominal = given.nominal.clone().unwrap_or_default();
    let currency = nominal.currency_code.clone();
    if !["SEK", "EUR", "USD"].contains(&currency.as_str()) {
        violations.push(FieldViolation::new("bond.nominal.currency_code", "is required: SEK, EUR or USD"));
    }
    if !(1..=MAX_NOMINAL).contains(&nominal.minor_units) {
        violations.push(FieldViolation::new("bond.nominal.minor_units", "is greater than zero and at most 10^15"));
    }
    let rate_micros = match (currency.as_str(), given.exchange_rate.trim()) {
        ("SEK", "" | "1") => Some(1_000_000),
        ("SEK", _) => {
            violations.push(FieldViolation::new("bond.exchange_rate", "is 1 (or empty) for a SEK bond"));
            None
        }
        (_, text) => {
            let rate = parse_rate(text);
            if rate.is_none() {
                violations.push(FieldViolation::new(
                    "bond.exchange_rate",
                    "is required: SEK per unit, a decimal greater than 0 and at most 1000 with at most 6 decimals",
                ));
            }
            rate
        }
    };
    let issue = day(given.issue_date.as_ref()).filter(|d| (1900..=9999).contains(&chrono::Datelike::year(d)));
    let maturity = day(given.maturity_date.as_ref());
    if issue.is_none() {
        violations.push(FieldViolation::new("bond.issue_date", "is required: a calendar date"));
    }
    match (issue, maturity) {
        (_, None) => violations.push(FieldViolation::new("bond.maturity_date", "is required: a calendar date")),
        (Some(issue), Some(maturity)) if maturity <= issue => {
            violations.push(FieldViolation::new("bond.maturity_date", "is after issue_date"))
        }
        _ => {}
    }
    if limits::unfit(override_reason, 4000) {
        violations.push(FieldViolation::new("override_reason", "is at most 4000 characters"));
    }
    match (issue, maturity, rate_micros) {
        (Some(issue), Some(maturity), Some(rate_micros)) if violations.is_empty() => Ok(NewBond {
            isin,
            display_name: given.display_name.trim().to_owned(),
            currency,
            nominal: nominal.minor_units,
            issue,
            maturity,
            rate_micros,
        }),
        _ => Err(Error::InvalidArgument(violations)),
    }
}

fn actor(subject: String, role: &str) -> Option<Actor> {
    (!subject.is_empty()).then(|| Actor { subject, role: role.to_owned(), ..Actor::default() })
}

/// The bond `isin` as the contract shows it today, or `None`.
pub async fn bond(conn: &mut PgConnection, isin: &str) -> Result<Option<pb::Bond>, sqlx::Error> {
    let Some(r) = sqlx::query("SELECT * FROM bonds.bond WHERE isin = $1").bind(isin).fetch_optional(&mut *conn).await?
    else {
        return Ok(None);
    };
    let redemptions = sqlx::query(
        "SELECT kind, nominal, effective_date, recorded_by, record_time FROM bonds.bond_redemption
         WHERE isin = $1 ORDER BY sequence",
    )
    .bind(isin)
    .fetch_all(&mut *conn)
    .await?;
    let currency: String = r.try_get("currency_code")?;
    let money = |minor_units: i64| Money { currency_code: currency.clone(), minor_units };
    let mut redeemed = 0;
    let mut history = Vec::new();
    for x in &redemptions {
        let nominal: i64 = x.try_get("nominal")?;
        redeemed += nominal;
        let kind: String = x.try_get("kind")?;
        history.push(pb::BondRedemption {
            kind: pb::RedemptionKind::from_str_name(&format!("REDEMPTION_KIND_{kind}")).unwrap_or_default() as i32,
            nominal: Some(money(nominal)),
            date: Some(views::date(x.try_get("effective_date")?)),
            recorded_by: actor(x.try_get("recorded_by")?, "treasury"),
            record_time: Some(timestamp(x.try_get("record_time")?)),
        });
    }
    let state: String = r.try_get("state")?;
    let maturity: NaiveDate = r.try_get("maturity_date")?;
    let today = socialloans_platform::stockholm_date(Utc::now());
    let counting = state == "OUTSTANDING" && maturity > today;
    let nominal: i64 = r.try_get("nominal")?;
    let outstanding = if counting { nominal - redeemed } else { 0 };
    let shown_state = if state == "OUTSTANDING" && !counting { "REDEEMED" } else { state.as_str() };
    let rate: i64 = r.try_get("rate_micros")?;
    let reason: String = r.try_get("override_reason")?;
    let decide_time: Option<DateTime<Utc>> = r.try_get("decide_time")?;
    Ok(Some(pb::Bond {
        name: format!("bonds/{isin}"),
        isin: isin.to_owned(),
        display_name: r.try_get("display_name")?,
        nominal: Some(money(nominal)),
        issue_date: Some(views::date(r.try_get("issue_date")?)),
        maturity_date: Some(views::date(maturity)),
        exchange_rate: rate_text(rate),
        state: pb::BondState::from_str_name(&format!("BOND_STATE_{shown_state}")).unwrap_or_default() as i32,
        outstanding_nominal: Some(money(outstanding)),
        outstanding_sek: Some(views::sek(model::sek(outstanding, rate))),
        redemptions: history,
        r#override: (!reason.is_empty()).then(|| pb::BondOverride {
            reason,
            headroom: r.try_get::<Option<i64>, _>("override_headroom").ok().flatten().map(views::sek),
            decided_by: actor(r.try_get("decided_by").unwrap_or_default(), "treasury"),
            decide_time: decide_time.map(timestamp),
            rejection_reason: r.try_get("rejection_reason").unwrap_or_default(),
        }),
        recorded_by: actor(r.try_get("recorded_by")?, "treasury"),
        create_time: Some(timestamp(r.try_get("create_time")?)),
        register_time: r.try_get::<Option<DateTime<Utc>>, _>("register_time")?.map(timestamp),
    }))
}

/// The headroom, as known now, on the dates the new bond is checked on —
/// its issue date, and today when later — with it counted; the lower one.
async fn headroom_with(
    conn: &mut PgConnection,
    new: &NewBond,
) -> Result<(model::Headroom, NaiveDate, DateTime<Utc>), sqlx::Error> {
    let known_at = history::clock(conn).await?;
    let today = socialloans_platform::stockholm_date(known_at);
    let mut worst: Option<(model::Headroom, NaiveDate)> = None;
    for on in [new.issue, today.max(new.issue)] {
        let mut headroom = history::headroom(conn, on, known_at).await?;
        if on < new.maturity {
            headroom.bonds += model::sek(new.nominal, new.rate_micros);
        }
        if worst.is_none_or(|(w, _)| headroom.headroom() < w.headroom()) {
            worst = Some((headroom, on));
        }
    }
    let (headroom, on) = worst.unwrap_or((model::Headroom { pool: 0, bonds: 0, loans: 0 }, today));
    Ok((headroom, on, known_at))
}

/// Records the issue of `new` (the caller holds the register's lock).
pub async fn issue(
    conn: &mut PgConnection,
    caller: &Caller,
    new: &NewBond,
    override_reason: &str,
    margin_percent: u32,
) -> Result<pb::IssueBondResponse, Error> {
    if sqlx::query("SELECT 1 FROM bonds.bond WHERE isin = $1")
        .bind(&new.isin)
        .fetch_optional(&mut *conn)
        .await?
        .is_some()
    {
        return Err(Error::Status(Box::new(socialloans_platform::error::with_reason(
            Code::AlreadyExists,
            "BOND_EXISTS",
            format!("bonds/{} is already in the register", new.isin),
            &[],
        ))));
    }
    let (headroom, on, known_at) = headroom_with(conn, new).await?;
    let breaks = headroom.headroom() < 0;
    let override_reason = override_reason.trim();
    if breaks && override_reason.is_empty() {
        return Err(Error::Status(Box::new(socialloans_platform::error::with_reason(
            Code::FailedPrecondition,
            "POOL_EXCEEDED",
            format!(
                "with bonds/{} the bonds outstanding on {on} ({} öre) would exceed the eligible pool ({} öre) by {} öre; \
                 give override_reason to ask a second treasury officer to approve it",
                new.isin,
                headroom.bonds,
                headroom.pool,
                -headroom.headroom()
            ),
            &[
                ("headroom", headroom.headroom().to_string()),
                ("date", on.to_string()),
                ("pool", headroom.pool.to_string()),
                ("bonds_outstanding", headroom.bonds.to_string()),
            ],
        ))));
    }
    sqlx::query(
        "INSERT INTO bonds.bond (isin, display_name, currency_code, nominal, issue_date, maturity_date, rate_micros,
                                 state, recorded_by, recorded_role, register_time, override_reason, override_headroom)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'treasury',
                 CASE WHEN $8 = 'OUTSTANDING' THEN clock_timestamp() END, $10, $11)",
    )
    .bind(&new.isin)
    .bind(&new.display_name)
    .bind(&new.currency)
    .bind(new.nominal)
    .bind(new.issue)
    .bind(new.maturity)
    .bind(new.rate_micros)
    .bind(if breaks { "PENDING_OVERRIDE" } else { "OUTSTANDING" })
    .bind(&caller.subject)
    .bind(if breaks { override_reason } else { "" })
    .bind(breaks.then_some(headroom.headroom()))
    .execute(&mut *conn)
    .await?;
    let shown = bond(conn, &new.isin).await?.ok_or_else(|| Error::NotFound(format!("bonds/{}", new.isin)))?;
    let view = views::headroom(&headroom, on, known_at, margin_percent);
    let aggregate = format!("bonds/{}", new.isin);
    if breaks {
        let event = pb::BondOverrideRequested { bond: Some(shown.clone()), headroom: Some(view.clone()) };
        outbox::append(conn, "bonds", &aggregate, None, &event).await?;
    } else {
        let event = pb::BondIssued { bond: Some(shown.clone()), headroom: Some(view.clone()) };
        outbox::append(conn, "bonds", &aggregate, None, &event).await?;
        watch::check(conn, margin_percent, &aggregate).await?;
    }
    Ok(pb::IssueBondResponse { bond: Some(shown), headroom: Some(view) })
}

/// Approves or rejects `isin`'s pending override (the caller holds the
/// register's lock): never by whoever recorded the issue.
pub async fn decide(
    conn: &mut PgConnection,
    caller: &Caller,
    isin: &str,
    rejection: Option<&str>,
    margin_percent: u32,
) -> Result<pb::Bond, Error> {
    let name = format!("bonds/{isin}");
    let row = sqlx::query("SELECT state, recorded_by FROM bonds.bond WHERE isin = $1")
        .bind(isin)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound(name.clone()))?;
    let (state, recorded_by): (String, String) = (row.try_get("state")?, row.try_get("recorded_by")?);
    if state != "PENDING_OVERRIDE" {
        return Err(Error::Precondition {
            reason: "NOT_PENDING_OVERRIDE",
            message: format!("{name} is {state}: there is no override to decide"),
        });
    }
    if recorded_by == caller.subject {
        return Err(Error::PermissionDenied {
            reason: "SAME_PERSON",
            message: "the override must be decided by another treasury officer than the one who recorded the issue"
                .into(),
        });
    }
    sqlx::query(
        "UPDATE bonds.bond SET state = $2, decided_by = $3, decide_time = clock_timestamp(), rejection_reason = $4,
                register_time = CASE WHEN $2 = 'OUTSTANDING' THEN clock_timestamp() END
         WHERE isin = $1",
    )
    .bind(isin)
    .bind(if rejection.is_some() { "REJECTED" } else { "OUTSTANDING" })
    .bind(&caller.subject)
    .bind(rejection.unwrap_or_default())
    .execute(&mut *conn)
    .await?;
    let shown = bond(conn, isin).await?.ok_or_else(|| Error::NotFound(name.clone()))?;
    let decided = pb::BondOverrideDecided { bond: Some(shown.clone()), approved: rejection.is_none() };
    outbox::append(conn, "bonds", &name, None, &decided).await?;
    if rejection.is_none() {
        outbox::append(conn, "bonds", &name, None, &pb::BondIssued { bond: Some(shown.clone()), headroom: None })
            .await?;
        watch::check(conn, margin_percent, &name).await?;
    }
    Ok(shown)
}

/// Records a buy-back or redemption of `isin` (the caller holds the
/// register's lock).
pub async fn redeem(
    conn: &mut PgConnection,
    caller: &Caller,
    isin: &str,
    given: &pb::BondRedemption,
    margin_percent: u32,
) -> Result<pb::Bond, Error> {
    let name = format!("bonds/{isin}");
    let row = sqlx::query(
        "SELECT state, currency_code, nominal, issue_date, maturity_date,
                (SELECT COALESCE(SUM(nominal), 0) FROM bonds.bond_redemption r WHERE r.isin = b.isin)::bigint AS redeemed,
                (SELECT MAX(effective_date) FROM bonds.bond_redemption r WHERE r.isin = b.isin) AS last
         FROM bonds.bond b WHERE isin = $1",
    )
    .bind(isin)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(name.clone()))?;
    let state: String = row.try_get("state")?;
    if state != "OUTSTANDING" {
        return Err(Error::Precondition { reason: "NOT_OUTSTANDING", message: format!("{name} is {state}") });
    }
    let (nominal, redeemed): (i64, i64) = (row.try_get("nominal")?, row.try_get("redeemed")?);
    let (issue, maturity): (NaiveDate, NaiveDate) = (row.try_get("issue_date")?, row.try_get("maturity_date")?);
    let last: Option<NaiveDate> = row.try_get("last")?;
    let currency: String = row.try_get("currency_code")?;
    let kind = pb::RedemptionKind::try_from(given.kind).unwrap_or_default();
    let amount = given.nominal.clone().unwrap_or_default();
    let on = day(given.date.as_ref());
    let mut violations = Vec::new();
    if kind == pb::RedemptionKind::Unspecified {
        violations.push(FieldViolation::new("redemption.kind", "is required: BUY_BACK or EARLY_REDEMPTION"));
    }
    if amount.currency_code != currency {
        violations.push(FieldViolation::new("redemption.nominal.currency_code", format!("is the bond's, {currency}")));
    }
    let left = nominal - redeemed;
    if !(1..=left).contains(&amount.minor_units) {
        violations.push(FieldViolation::new(
            "redemption.nominal.minor_units",
            format!("is greater than zero and at most what is outstanding, {left}"),
        ));
    }
    if kind == pb::RedemptionKind::EarlyRedemption && amount.minor_units != left {
        violations.push(FieldViolation::new(
            "redemption.nominal.minor_units",
            format!("redeems all that is outstanding, {left}"),
        ));
    }
    match on {
        Some(on) if on >= issue && on < maturity && last.is_none_or(|l| on >= l) => {}
        _ => violations.push(FieldViolation::new(
            "redemption.date",
            format!("is required: on or after {issue} (and the last redemption), before {maturity}"),
        )),
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let stored_kind = if kind == pb::RedemptionKind::BuyBack { "BUY_BACK" } else { "EARLY_REDEMPTION" };
    sqlx::query("INSERT INTO bonds.bond_redemption (isin, kind, nominal, effective_date, recorded_by) VALUES ($1, $2, $3, $4, $5)")
        .bind(isin)
        .bind(stored_kind)
        .bind(amount.minor_units)
        .bind(on)
        .bind(&caller.subject)
        .execute(&mut *conn)
        .await?;
    if amount.minor_units == left {
        sqlx::query("UPDATE bonds.bond SET state = 'REDEEMED' WHERE isin = $1").bind(isin).execute(&mut *conn).await?;
    }
    let shown = bond(conn, isin).await?.ok_or_else(|| Error::NotFound(name.clone()))?;
    let recorded = shown.redemptions.last().cloned();
    outbox::append(conn, "bonds", &name, None, &pb::BondRedeemed { bond: Some(shown.clone()), redemption: recorded })
        .await?;
    watch::check(conn, margin_percent, &name).await?;
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isin_needs_its_form_and_its_check_digit() {
        for good in ["SE0017160872", "US0378331005", "XS2191351126", "SE0000108656"] {
            assert!(isin_valid(good), "{good}");
            assert_eq!(isin_of(&good[..11]).as_deref(), Some(good));
        }
        assert_eq!(isin_of("se001716087"), None);
        for bad in ["SE0017160873", "se0017160873", "SE001716087", "SE00171608720", "S10017160873", "SE001716087X", ""]
        {
            assert!(!isin_valid(bad), "{bad}");
        }
    }

    #[test]
    fn a_rate_is_a_positive_decimal_of_at_most_six_places_up_to_a_thousand() {
        assert_eq!(parse_rate("11.4523"), Some(11_452_300));
        assert_eq!(parse_rate("1"), Some(1_000_000));
        assert_eq!(parse_rate("1000"), Some(1_000_000_000));
        assert_eq!(parse_rate("0.000001"), Some(1));
        for bad in ["0", "0.0000001", "1000.000001", "-1", "1e3", "11,45", "1.", ".5", "", "NaN", "99999"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
        assert_eq!(rate_text(11_452_300), "11.4523");
        assert_eq!(rate_text(1_000_000), "1");
    }

    #[test]
    fn a_bond_is_checked_field_by_field() {
        let given = pb::Bond {
            isin: "SE0017160874".into(),
            nominal: Some(Money { currency_code: "GBP".into(), minor_units: 0 }),
            issue_date: Some(views::date("2026-01-01".parse().unwrap())),
            maturity_date: Some(views::date("2025-01-01".parse().unwrap())),
            exchange_rate: "0".into(),
            ..pb::Bond::default()
        };
        let Err(Error::InvalidArgument(violations)) = checked(&given, "") else { panic!("refused") };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "bond.isin",
                "bond.nominal.currency_code",
                "bond.nominal.minor_units",
                "bond.exchange_rate",
                "bond.maturity_date"
            ]
        );
        let sek = pb::Bond {
            isin: "SE0017160872".into(),
            nominal: Some(Money { currency_code: "SEK".into(), minor_units: MAX_NOMINAL }),
            issue_date: Some(views::date("2026-01-01".parse().unwrap())),
            maturity_date: Some(views::date("2031-01-01".parse().unwrap())),
            ..pb::Bond::default()
        };
        assert_eq!(checked(&sek, "").unwrap().rate_micros, 1_000_000);
        let euro = pb::Bond { nominal: Some(Money { currency_code: "EUR".into(), minor_units: 1 }), ..sek };
        assert!(checked(&euro, "").is_err(), "a EUR bond needs its rate");
    }
}
