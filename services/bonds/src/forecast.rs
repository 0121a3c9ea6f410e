//! The forecast of the headroom: the pool and the bonds outstanding on each
//! date something is scheduled to change — a loan or a bond maturing, a
//! movement recorded for a future date (an amortisation reported ahead), a
//! bond's issue or redemption — walked once in date order. Pure.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::model::{Headroom, sek};

/// A loan in the pool with what is known of its amounts ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledLoan {
    /// Core banking's id.
    pub loan_id: String,
    /// When it matures (it counts until the day before).
    pub maturity: NaiveDate,
    /// Its outstanding amount on the first day, and the movements after it:
    /// (date, delta), in date order.
    pub changes: Vec<(NaiveDate, i64)>,
}

/// A bond in the register, with its redemptions.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledBond {
    /// The ISIN.
    pub isin: String,
    /// The nominal issued, minor units.
    pub nominal: i64,
    /// SEK per unit, millionths.
    pub rate_micros: i64,
    /// It counts from this date…
    pub issue: NaiveDate,
    /// …until the day before this one.
    pub maturity: NaiveDate,
    /// (date, nominal redeemed).
    pub redemptions: Vec<(NaiveDate, i64)>,
}

impl ScheduledBond {
    fn outstanding_sek(&self, on: NaiveDate) -> i64 {
        if on < self.issue || on >= self.maturity {
            return 0;
        }
        let redeemed: i64 = self.redemptions.iter().filter(|(d, _)| *d <= on).map(|(_, n)| n).sum();
        sek(self.nominal - redeemed, self.rate_micros)
    }
}

/// One date of the forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The date.
    pub date: NaiveDate,
    /// The pool and bonds on it.
    pub headroom: Headroom,
    /// What changes on it.
    pub changes: Vec<String>,
}

/// The headroom after `from` and up to `until`, at most `limit` dates.
pub fn forecast(
    loans: &[ScheduledLoan],
    bonds: &[ScheduledBond],
    from: NaiveDate,
    until: NaiveDate,
    limit: usize,
) -> Vec<Point> {
    let mut changes: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    let mut moves: BTreeMap<NaiveDate, Vec<(usize, i64)>> = BTreeMap::new();
    let mut maturing: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    let mut owed = vec![0i64; loans.len()];
    let mut live = vec![true; loans.len()];
    let mut pool = 0;
    for (i, loan) in loans.iter().enumerate() {
        for &(on, delta) in &loan.changes {
            if on <= from {
                owed[i] += delta;
            } else if on <= until && on < loan.maturity {
                moves.entry(on).or_default().push((i, delta));
                changes.entry(on).or_default().push(format!("loan {} moves by {delta} öre", loan.loan_id));
            }
        }
        if loan.maturity <= from {
            live[i] = false;
        } else {
            pool += owed[i];
            if loan.maturity <= until
                && owed[i] + loan.changes.iter().filter(|(d, _)| *d > from).map(|c| c.1).sum::<i64>() > 0
            {
                maturing.entry(loan.maturity).or_default().push(i);
                changes.entry(loan.maturity).or_default().push(format!("loan {} matures", loan.loan_id));
            }
        }
    }
    for bond in bonds {
        let mut dated = vec![(bond.issue, "is issued"), (bond.maturity, "matures")];
        dated.extend(bond.redemptions.iter().map(|(d, _)| (*d, "is partly redeemed")));
        for (on, what) in dated {
            if on > from && on <= until {
                changes.entry(on).or_default().push(format!("bond {} {what}", bond.isin));
            }
        }
    }
    let mut points = Vec::new();
    for (date, what) in changes.into_iter().take(limit) {
        for &(i, delta) in moves.get(&date).into_iter().flatten() {
            if live[i] {
                owed[i] += delta;
                pool += delta;
            }
        }
        for &i in maturing.get(&date).into_iter().flatten() {
            if live[i] {
                pool -= owed[i];
                live[i] = false;
            }
        }
        let loans_counted = live.iter().zip(&owed).filter(|(l, o)| **l && **o > 0).count();
        let bonds_sek = bonds.iter().map(|b| b.outstanding_sek(date)).sum();
        let mut what = what;
        what.sort();
        points.push(Point { date, headroom: Headroom { pool, bonds: bonds_sek, loans: loans_counted }, changes: what });
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_pool_falls_as_loans_mature_and_amortise_and_the_bonds_as_they_mature_or_are_redeemed() {
        let loans = vec![
            ScheduledLoan {
                loan_id: "A".into(),
                maturity: day("2030-01-01"),
                changes: vec![(day("2026-12-01"), 400), (day("2028-06-30"), -20)],
            },
            ScheduledLoan { loan_id: "B".into(), maturity: day("2027-03-01"), changes: vec![(day("2026-12-01"), 100)] },
            ScheduledLoan { loan_id: "C".into(), maturity: day("2026-06-01"), changes: vec![(day("2025-12-01"), 50)] },
        ];
        let bonds = vec![ScheduledBond {
            isin: "SE1".into(),
            nominal: 450,
            rate_micros: 1_000_000,
            issue: day("2026-12-01"),
            maturity: day("2029-01-01"),
            redemptions: vec![(day("2027-06-01"), 100)],
        }];
        let points = forecast(&loans, &bonds, day("2026-12-01"), day("2031-01-01"), 100);
        let seen: Vec<(String, i64, i64)> =
            points.iter().map(|p| (p.date.to_string(), p.headroom.pool, p.headroom.bonds)).collect();
        assert_eq!(
            seen,
            [
                ("2027-03-01".to_owned(), 400, 450),
                ("2027-06-01".to_owned(), 400, 350),
                ("2028-06-30".to_owned(), 380, 350),
                ("2029-01-01".to_owned(), 380, 0),
                ("2030-01-01".to_owned(), 0, 0),
            ]
        );
        assert_eq!(points[0].changes, ["loan B matures"]);
        assert_eq!(points[2].changes, ["loan A moves by -20 öre"]);
        assert_eq!(forecast(&loans, &bonds, day("2026-12-01"), day("2031-01-01"), 2).len(), 2);
    }
}
