//! The indicator catalogue: what outcomes can be measured, in which unit,
//! which way is better. Shipped with a starting set; analysts extend it.

use socialloans_contracts::common::{Category, IndicatorDirection, IndicatorLevel};
use socialloans_contracts::monitoring::IndicatorDefinition;
use socialloans_platform::error::FieldViolation;
use sqlx::PgConnection;

use crate::{
    columns::{StoredCategory, StoredDirection, StoredLevel},
    error::Error,
    store,
};

impl store::catalogue::Row {
    /// The API view.
    pub fn view(&self) -> IndicatorDefinition {
        IndicatorDefinition {
            name: format!("indicatorDefinitions/{}", self.code),
            code: self.code.clone(),
            display_name: self.display_name.clone(),
            swedish_display_name: self.swedish_display_name.clone(),
            unit: self.unit.clone(),
            direction: StoredDirection::from_stored(&self.direction).map_or(IndicatorDirection::Unspecified, |d| d.0)
                as i32,
            level: StoredLevel::from_stored(&self.level).map_or(IndicatorLevel::Unspecified, |l| l.0) as i32,
            category: StoredCategory::from_stored(&self.category).map_or(Category::Unspecified, |c| c.0) as i32,
            sdg_targets: self.sdg_targets.clone(),
            description: self.description.clone(),
        }
    }

    /// The order key.
    pub fn key(&self) -> (chrono::DateTime<chrono::Utc>, String) {
        (self.create_time, self.code.clone())
    }
}

fn known<E: TryFrom<i32>>(value: i32, unspecified: i32) -> bool {
    value != unspecified && E::try_from(value).is_ok()
}

/// Adds a definition, checked field by field.
pub async fn create(conn: &mut PgConnection, d: &IndicatorDefinition) -> Result<store::catalogue::Row, Error> {
    let mut v = Vec::new();
    let snake = d.code.len() >= 2
        && d.code.len() <= 63
        && d.code.starts_with(|c: char| c.is_ascii_lowercase())
        && d.code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !snake {
        v.push(FieldViolation::new("indicator_definition.code", "must be lower_snake_case, 2 to 63 characters"));
    }
    if d.display_name.trim().is_empty() || socialloans_platform::limits::unfit(&d.display_name, 200) {
        v.push(FieldViolation::new("indicator_definition.display_name", "is required, at most 200 characters"));
    }
    if socialloans_platform::limits::unfit(&d.swedish_display_name, 200) {
        v.push(FieldViolation::new("indicator_definition.swedish_display_name", "is at most 200 characters"));
    }
    if d.unit.trim().is_empty() || socialloans_platform::limits::unfit(&d.unit, 64) {
        v.push(FieldViolation::new("indicator_definition.unit", "is required, at most 64 characters"));
    }
    if !known::<IndicatorDirection>(d.direction, 0) {
        v.push(FieldViolation::new("indicator_definition.direction", "is required"));
    }
    if !known::<IndicatorLevel>(d.level, 0) {
        v.push(FieldViolation::new("indicator_definition.level", "must be OUTPUT, OUTCOME or IMPACT"));
    }
    if !known::<Category>(d.category, 0) {
        v.push(FieldViolation::new("indicator_definition.category", "is required"));
    }
    v.extend(socialloans_platform::limits::text("indicator_definition.description", &d.description, 10_000));
    if d.sdg_targets.len() > 20 {
        v.push(FieldViolation::new("indicator_definition.sdg_targets", "at most 20"));
    } else {
        for (i, t) in d.sdg_targets.iter().enumerate() {
            let sdg = t.split_once('.').is_some_and(|(goal, target)| {
                goal.parse::<u8>().is_ok_and(|g| (1..=17).contains(&g))
                    && (1..=2).contains(&target.len())
                    && target.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
            });
            if !sdg {
                v.push(FieldViolation::new(
                    format!("indicator_definition.sdg_targets[{i}]"),
                    "is not an Agenda 2030 target such as 11.1 or 4.a",
                ));
            }
        }
    }
    if !v.is_empty() {
        return Err(Error::InvalidArgument(v));
    }
    let strip = |s: &str, p: &str| s.trim_start_matches(p).to_owned();
    let direction =
        strip(IndicatorDirection::try_from(d.direction).unwrap_or_default().as_str_name(), "INDICATOR_DIRECTION_");
    let level = strip(IndicatorLevel::try_from(d.level).unwrap_or_default().as_str_name(), "INDICATOR_LEVEL_");
    let category = strip(Category::try_from(d.category).unwrap_or_default().as_str_name(), "CATEGORY_");
    let row = store::catalogue::insert(conn, d, direction, level, category).await.map_err(|e| {
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("23505") => Error::AlreadyExists(format!("indicator {} exists", d.code)),
            _ => Error::Database(e),
        }
    })?;
    store::audit::record(conn, &format!("indicatorDefinitions/{}", d.code), "", "", "added to the catalogue").await?;
    Ok(row)
}
