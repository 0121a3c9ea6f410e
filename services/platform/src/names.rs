//! Resource names (`monitoringPlans/{uuid}/outcomeReports/{uuid}`), read
//! against a pattern in one place for every service.

use uuid::Uuid;

use crate::error::FieldViolation;

/// Reads `name` against `pattern`, segment by segment: a literal segment
/// must be equal, `{uuid}` a UUID in its one canonical spelling
/// ([`crate::limits::id`]), `{id}` any non-empty segment. Returns the UUIDs
/// in order, or a violation of `field` that shows the pattern.
pub fn parse<const N: usize>(field: &str, pattern: &str, name: &str) -> Result<[Uuid; N], FieldViolation> {
    let refuse = || FieldViolation::new(field, format!("must be {pattern}"));
    let mut expected = pattern.split('/');
    let mut given = name.split('/');
    let mut ids = [Uuid::nil(); N];
    let mut found = 0;
    loop {
        match (expected.next(), given.next()) {
            (None, None) => break,
            (Some("{uuid}"), Some(segment)) => {
                let id = crate::limits::id(segment).ok_or_else(refuse)?;
                *ids.get_mut(found).ok_or_else(refuse)? = id;
                found += 1;
            }
            (Some("{id}"), Some(segment)) if !segment.is_empty() => {}
            (Some(literal), Some(segment)) if literal == segment && !literal.starts_with('{') => {}
            _ => return Err(refuse()),
        }
    }
    if found == N { Ok(ids) } else { Err(refuse()) }
}

/// The one UUID of a name like `cases/{uuid}`.
pub fn uuid(field: &str, pattern: &str, name: &str) -> Result<Uuid, FieldViolation> {
    parse::<1>(field, pattern, name).map(|[id]| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "0190f3a2-7c1e-7d2a-9b3c-4d5e6f708192";
    const REPORT: &str = "0190f3a2-7c1e-7d2a-9b3c-4d5e6f708193";

    #[test]
    fn a_name_gives_its_ids_in_order() {
        let name = format!("monitoringPlans/{PLAN}/outcomeReports/{REPORT}");
        let [plan, report] = parse("name", "monitoringPlans/{uuid}/outcomeReports/{uuid}", &name).unwrap();
        assert_eq!((plan.to_string(), report.to_string()), (PLAN.to_owned(), REPORT.to_owned()));
        let condition = format!("monitoringPlans/{PLAN}/conditions/c-1");
        assert_eq!(uuid("name", "monitoringPlans/{uuid}/conditions/{id}", &condition).unwrap().to_string(), PLAN);
    }

    #[test]
    fn anything_off_the_pattern_is_refused_naming_the_field_and_the_pattern() {
        let pattern = "monitoringPlans/{uuid}/outcomeReports/{uuid}";
        for name in [
            String::new(),
            format!("monitoringPlans/{PLAN}"),
            format!("monitoringPlans/{PLAN}/outcomeReports/{REPORT}/"),
            format!("monitoringPlans/{PLAN}/outcomeReports/{REPORT}/extra"),
            format!("monitoringplans/{PLAN}/outcomeReports/{REPORT}"),
            format!("monitoringPlans/{}/outcomeReports/{REPORT}", PLAN.to_uppercase()),
            format!("monitoringPlans/{PLAN}/outcomeReports/not-a-uuid"),
            format!("/monitoringPlans/{PLAN}/outcomeReports/{REPORT}"),
        ] {
            let refused = parse::<2>("parent", pattern, &name).unwrap_err();
            assert_eq!(refused.field, "parent", "{name}");
            assert_eq!(refused.description, format!("must be {pattern}"), "{name}");
        }
        assert!(
            uuid("name", "monitoringPlans/{uuid}/conditions/{id}", &format!("monitoringPlans/{PLAN}/conditions/"))
                .is_err()
        );
        // A pattern with another number of ids than asked for refuses rather than panics.
        assert!(parse::<2>("name", "cases/{uuid}", &format!("cases/{PLAN}")).is_err());
    }
}
