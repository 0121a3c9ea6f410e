//! The register's arithmetic, on a [`Snapshot`] of what it held as of a date
//! and as known at a time: the headroom, the allocation report and the
//! investor impact report. Pure: no database, no clock. Amounts are öre
//! (i64); every breakdown is apportioned by largest remainder, so that its
//! parts add up to the whole to the öre.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

/// A loan in the pool on the snapshot's date.
#[derive(Debug, Clone, PartialEq)]
pub struct Loan {
    /// Core banking's id.
    pub loan_id: String,
    /// `applications/{uuid}`.
    pub application: String,
    /// Outstanding on the date, öre; greater than zero.
    pub outstanding: i64,
    /// When disbursed.
    pub disbursement: NaiveDate,
    /// When it matures.
    pub maturity: NaiveDate,
}

/// A project (application) the pool's loans finance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    /// `applications/{uuid}`.
    pub application: String,
    /// The borrower.
    pub organization_number: String,
    /// Its name.
    pub borrower_name: String,
    /// The title.
    pub title: String,
    /// The category's enum name.
    pub category: String,
    /// The municipality.
    pub municipality: String,
    /// Its code.
    pub municipality_code: String,
    /// The target populations' enum names.
    pub populations: Vec<String>,
    /// The investment's total cost, öre.
    pub project_cost: i64,
}

/// A bond outstanding on the snapshot's date.
#[derive(Debug, Clone, PartialEq)]
pub struct Bond {
    /// The ISIN.
    pub isin: String,
    /// SEK, EUR or USD.
    pub currency: String,
    /// Outstanding nominal, minor units of `currency`.
    pub outstanding_nominal: i64,
    /// SEK per unit, in millionths.
    pub rate_micros: i64,
    /// The issue date.
    pub issue_date: NaiveDate,
}

impl Bond {
    /// The outstanding nominal in öre at the fixed rate, rounded half up.
    pub fn outstanding_sek(&self) -> i64 {
        sek(self.outstanding_nominal, self.rate_micros)
    }
}

/// `nominal` minor units at `rate_micros` millionths of SEK per unit, in
/// öre, rounded half up (both at most 10^15 and 10^9: no overflow in i128,
/// and the result fits i64).
pub fn sek(nominal: i64, rate_micros: i64) -> i64 {
    let product = i128::from(nominal) * i128::from(rate_micros);
    ((product + 500_000) / 1_000_000) as i64
}

/// An accepted indicator value.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    /// The code.
    pub code: String,
    /// The unit.
    pub unit: String,
    /// The value.
    pub value: f64,
    /// The period it was reported for.
    pub period_end: NaiveDate,
}

/// What the register held on `as_of`, as known at `known_at`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The date.
    pub as_of: NaiveDate,
    /// The knowledge time.
    pub known_at: DateTime<Utc>,
    /// The loans in the pool, by loan id.
    pub loans: Vec<Loan>,
    /// The bonds outstanding, by ISIN.
    pub bonds: Vec<Bond>,
    /// The projects, by application.
    pub projects: BTreeMap<String, Project>,
    /// Each project's latest accepted indicator values, by code.
    pub indicators: BTreeMap<String, Vec<Indicator>>,
}

/// The pool against the bonds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headroom {
    /// Pool, öre.
    pub pool: i64,
    /// Bonds outstanding, öre.
    pub bonds: i64,
    /// Loans in the pool.
    pub loans: usize,
}

impl Headroom {
    /// pool − bonds.
    pub fn headroom(&self) -> i64 {
        self.pool - self.bonds
    }

    /// `percent` of the bonds outstanding, rounded up: the margin below which
    /// the register warns.
    pub fn margin(&self, percent: u32) -> i64 {
        let margin = i128::from(self.bonds) * i128::from(percent);
        ((margin + 99) / 100) as i64
    }

    /// Whether the headroom is below the margin (a warning is due).
    pub fn low(&self, percent: u32) -> bool {
        self.bonds > 0 && self.headroom() < self.margin(percent)
    }
}

impl Snapshot {
    /// The pool against the bonds.
    pub fn headroom(&self) -> Headroom {
        Headroom {
            pool: self.loans.iter().map(|l| l.outstanding).sum(),
            bonds: self.bonds.iter().map(Bond::outstanding_sek).sum(),
            loans: self.loans.len(),
        }
    }

    /// The project a loan finances (an empty one when the register has not
    /// seen its approval).
    pub fn project(&self, application: &str) -> Project {
        self.projects
            .get(application)
            .cloned()
            .unwrap_or_else(|| Project { application: application.to_owned(), ..Project::default() })
    }
}

/// `whole` split in proportion to `weights` (non-negative), to the öre: each
/// part rounded down, then the öre left over given to the largest
/// remainders (ties to the earlier part). All zero when the weights are.
pub fn apportion(whole: i64, weights: &[i64]) -> Vec<i64> {
    let total: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = i128::from(whole) * i128::from(w.max(0));
        parts.push((exact / total) as i64);
        remainders.push((exact % total, i));
    }
    let left = whole - parts.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left.max(0) as usize) {
        parts[i] += 1;
    }
    parts
}

/// `part` of `whole` in percent, to two decimals; 0 for an empty whole.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let basis_points = (i128::from(part) * 10_000 * 2 + i128::from(whole)) / (2 * i128::from(whole));
    basis_points as f64 / 100.0
}

/// One bond's allocation, öre.
#[derive(Debug, Clone, PartialEq)]
pub struct BondAllocation {
    /// The bond.
    pub bond: Bond,
    /// Outstanding in SEK.
    pub outstanding_sek: i64,
    /// Allocated.
    pub allocated: i64,
    /// Not allocated.
    pub unallocated: i64,
    /// Of allocated: loans disbursed on or after the issue date.
    pub new_financing: i64,
    /// Of allocated: loans disbursed before.
    pub refinancing: i64,
    /// Allocated by category.
    pub by_category: BTreeMap<String, i64>,
    /// Allocated by municipality code.
    pub by_municipality: BTreeMap<String, i64>,
}

/// The allocation report's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The pool and bonds.
    pub headroom: Headroom,
    /// Allocated, in total.
    pub allocated: i64,
    /// Not allocated, in total.
    pub unallocated: i64,
    /// New financing, in total.
    pub new_financing: i64,
    /// Refinancing, in total.
    pub refinancing: i64,
    /// By category, in total.
    pub by_category: BTreeMap<String, i64>,
    /// By municipality code, in total.
    pub by_municipality: BTreeMap<String, i64>,
    /// Per bond, by ISIN.
    pub bonds: Vec<BondAllocation>,
}

/// `amount` split over the keys of `weights`.
fn split(amount: i64, weights: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let parts = apportion(amount, &weights.values().copied().collect::<Vec<_>>());
    weights.keys().cloned().zip(parts).collect()
}

fn add_into(total: &mut BTreeMap<String, i64>, parts: &BTreeMap<String, i64>) {
    for (key, amount) in parts {
        *total.entry(key.clone()).or_default() += amount;
    }
}

/// The allocation report by the portfolio approach: the smaller of the
/// bonds and the pool is allocated, over the bonds in proportion to their
/// SEK amounts, and each bond's part over the pool in proportion to the
/// loans' outstanding amounts.
pub fn allocation(snapshot: &Snapshot) -> Allocation {
    let headroom = snapshot.headroom();
    let allocated_total = headroom.pool.min(headroom.bonds);
    let sek: Vec<i64> = snapshot.bonds.iter().map(Bond::outstanding_sek).collect();
    let allocated = apportion(allocated_total, &sek);
    let mut by_category = BTreeMap::new();
    let mut by_municipality = BTreeMap::new();
    for loan in &snapshot.loans {
        let project = snapshot.project(&loan.application);
        *by_category.entry(project.category).or_insert(0) += loan.outstanding;
        *by_municipality.entry(project.municipality_code).or_insert(0) += loan.outstanding;
    }
    let mut report = Allocation {
        headroom,
        allocated: allocated_total,
        unallocated: headroom.bonds - allocated_total,
        new_financing: 0,
        refinancing: 0,
        by_category: BTreeMap::new(),
        by_municipality: BTreeMap::new(),
        bonds: Vec::new(),
    };
    for ((bond, sek), allocated) in snapshot.bonds.iter().zip(sek).zip(allocated) {
        let new_pool: i64 =
            snapshot.loans.iter().filter(|l| l.disbursement >= bond.issue_date).map(|l| l.outstanding).sum();
        let new_financing = apportion(allocated, &[new_pool, headroom.pool - new_pool])[0];
        let one = BondAllocation {
            bond: bond.clone(),
            outstanding_sek: sek,
            allocated,
            unallocated: sek - allocated,
            new_financing,
            refinancing: allocated - new_financing,
            by_category: split(allocated, &by_category),
            by_municipality: split(allocated, &by_municipality),
        };
        report.new_financing += one.new_financing;
        report.refinancing += one.refinancing;
        add_into(&mut report.by_category, &one.by_category);
        add_into(&mut report.by_municipality, &one.by_municipality);
        report.bonds.push(one);
    }
    report
}

/// One project in the impact report.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectImpact {
    /// The project.
    pub project: Project,
    /// The lender's loans outstanding to it, öre.
    pub financed: i64,
    /// Its latest accepted indicator values.
    pub indicators: Vec<Indicator>,
}

impl ProjectImpact {
    /// financed / project cost, percent.
    pub fn lender_share(&self) -> f64 {
        percent(self.financed, self.project.project_cost)
    }

    /// `value` × the lender's share.
    pub fn attributed(&self, value: f64) -> f64 {
        value * self.lender_share() / 100.0
    }
}

/// An indicator over a group of projects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndicatorAggregate {
    /// How many projects reported it.
    pub projects: usize,
    /// Sum of values.
    pub total: f64,
    /// Sum of attributed values.
    pub attributed: f64,
    /// Σ value × financed.
    weighted: f64,
    /// Σ financed.
    financed: i64,
}

impl IndicatorAggregate {
    /// The values' mean weighted by financed amount.
    pub fn weighted_mean(&self) -> f64 {
        if self.financed == 0 { 0.0 } else { self.weighted / self.financed as f64 }
    }
}

/// Projects grouped by category or population.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImpactGroup {
    /// How many.
    pub projects: usize,
    /// Financed, öre.
    pub financed: i64,
    /// Total project cost, öre.
    pub project_cost: i64,
    /// By (code, unit).
    pub indicators: BTreeMap<(String, String), IndicatorAggregate>,
}

impl ImpactGroup {
    fn add(&mut self, project: &ProjectImpact) {
        self.projects += 1;
        self.financed += project.financed;
        self.project_cost += project.project.project_cost;
        for indicator in &project.indicators {
            let aggregate = self.indicators.entry((indicator.code.clone(), indicator.unit.clone())).or_default();
            aggregate.projects += 1;
            aggregate.total += indicator.value;
            aggregate.attributed += project.attributed(indicator.value);
            aggregate.weighted += indicator.value * project.financed as f64;
            aggregate.financed += project.financed;
        }
    }
}

/// The investor impact report's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Impact {
    /// Each project, by application.
    pub projects: Vec<ProjectImpact>,
    /// By category.
    pub by_category: BTreeMap<String, ImpactGroup>,
    /// By target population.
    pub by_population: BTreeMap<String, ImpactGroup>,
    /// Bonds over pool, at most 100, percent.
    pub bond_share: f64,
}

/// The investor impact report: project by project, then grouped.
pub fn impact(snapshot: &Snapshot) -> Impact {
    let mut financed: BTreeMap<&str, i64> = BTreeMap::new();
    for loan in &snapshot.loans {
        *financed.entry(&loan.application).or_default() += loan.outstanding;
    }
    let projects: Vec<ProjectImpact> = financed
        .into_iter()
        .map(|(application, financed)| ProjectImpact {
            project: snapshot.project(application),
            financed,
            indicators: snapshot.indicators.get(application).cloned().unwrap_or_default(),
        })
        .collect();
    let mut by_category: BTreeMap<String, ImpactGroup> = BTreeMap::new();
    let mut by_population: BTreeMap<String, ImpactGroup> = BTreeMap::new();
    for project in &projects {
        by_category.entry(project.project.category.clone()).or_default().add(project);
        for population in &project.project.populations {
            by_population.entry(population.clone()).or_default().add(project);
        }
    }
    let headroom = snapshot.headroom();
    let bond_share = percent(headroom.bonds.min(headroom.pool), headroom.pool);
    Impact { projects, by_category, by_population, bond_share }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kronor in öre.
    const fn kr(kronor: i64) -> i64 {
        kronor * 100
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn loan(id: &str, application: &str, outstanding: i64, disbursed: &str) -> Loan {
        Loan {
            loan_id: id.into(),
            application: application.into(),
            outstanding,
            disbursement: day(disbursed),
            maturity: day("2040-01-01"),
        }
    }

    fn project(application: &str, category: &str, code: &str, cost: i64) -> (String, Project) {
        let project = Project {
            application: application.into(),
            category: category.into(),
            municipality_code: code.into(),
            populations: vec!["LOW_INCOME".into(), "UNEMPLOYED".into()],
            project_cost: cost,
            ..Project::default()
        };
        (application.into(), project)
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            as_of: day("2026-12-31"),
            loans: vec![
                loan("L-1", "applications/a", kr(600_000_000), "2025-03-01"),
                loan("L-2", "applications/b", kr(300_000_000), "2026-06-01"),
                loan("L-3", "applications/b", kr(100_000_000), "2026-09-01"),
            ],
            bonds: vec![
                Bond {
                    isin: "SE0000000001".into(),
                    currency: "SEK".into(),
                    outstanding_nominal: kr(500_000_000),
                    rate_micros: 1_000_000,
                    issue_date: day("2026-05-01"),
                },
                Bond {
                    isin: "XS0000000002".into(),
                    currency: "EUR".into(),
                    outstanding_nominal: kr(10_000_000),
                    rate_micros: 11_452_300,
                    issue_date: day("2026-08-01"),
                },
            ],
            projects: [
                project("applications/a", "HOUSING", "0127", kr(2_000_000_000)),
                project("applications/b", "SAFETY", "1480", kr(800_000_000)),
            ]
            .into_iter()
            .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_euro_bond_counts_in_sek_at_its_fixed_rate_to_the_ore() {
        assert_eq!(sek(kr(10_000_000), 11_452_300), kr(114_523_000));
        assert_eq!(sek(1, 1_500_000), 2, "half an öre rounds up");
        assert_eq!(sek(1_000_000_000_000_000, 1_000_000_000), 1_000_000_000_000_000_000, "the largest fit");
    }

    #[test]
    fn apportioned_parts_add_up_to_the_whole_to_the_ore() {
        assert_eq!(apportion(100, &[1, 1, 1]), [34, 33, 33]);
        assert_eq!(apportion(10, &[0, 0]), [0, 0]);
        let parts = apportion(99_999_999_997, &[3, 7, 11, 13]);
        assert_eq!(parts.iter().sum::<i64>(), 99_999_999_997);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(5, 0), 0.0);
    }

    #[test]
    fn the_bonds_are_allocated_pro_rata_and_split_by_category_municipality_and_new_financing() {
        let report = allocation(&snapshot());
        let headroom = report.headroom;
        assert_eq!((headroom.pool, headroom.bonds, headroom.loans), (kr(1_000_000_000), kr(614_523_000), 3));
        assert_eq!((report.allocated, report.unallocated), (kr(614_523_000), 0));
        let first = &report.bonds[0];
        assert_eq!((first.allocated, first.unallocated), (kr(500_000_000), 0));
        // Issued 2026-05-01: L-2 and L-3 (400 of 1000) are new financing.
        assert_eq!((first.new_financing, first.refinancing), (kr(200_000_000), kr(300_000_000)));
        // Issued 2026-08-01: only L-3 (100 of 1000).
        assert_eq!(report.bonds[1].new_financing, kr(11_452_300));
        assert_eq!(report.new_financing + report.refinancing, report.allocated);
        assert_eq!(report.by_category["HOUSING"] + report.by_category["SAFETY"], report.allocated);
        assert_eq!(report.by_municipality.values().sum::<i64>(), report.allocated);
        assert_eq!(first.by_category["HOUSING"], kr(300_000_000));
    }

    #[test]
    fn bonds_above_the_pool_leave_proceeds_unallocated() {
        let mut snapshot = snapshot();
        snapshot.loans.truncate(1);
        let report = allocation(&snapshot);
        assert_eq!(report.allocated, kr(600_000_000));
        assert_eq!(report.unallocated, kr(14_523_000));
        assert_eq!(report.bonds.iter().map(|b| b.unallocated).sum::<i64>(), report.unallocated);
        assert!(report.headroom.low(0), "a shortfall is below any margin");
        assert_eq!(report.headroom.headroom(), -kr(14_523_000));
    }

    #[test]
    fn the_margin_warns_before_a_shortfall_and_not_without_bonds() {
        let headroom = Headroom { pool: 104, bonds: 100, loans: 1 };
        assert_eq!(headroom.margin(5), 5);
        assert!(headroom.low(5));
        assert!(!headroom.low(4));
        assert!(!Headroom { pool: 0, bonds: 0, loans: 0 }.low(5));
    }

    #[test]
    fn the_impact_report_gives_each_project_its_share_and_groups_by_category_and_population() {
        let mut snapshot = snapshot();
        let indicator = |code: &str, value: f64| Indicator {
            code: code.into(),
            unit: "count".into(),
            value,
            period_end: day("2026-12-31"),
        };
        snapshot.indicators.insert("applications/a".into(), vec![indicator("dwellings", 380.0)]);
        snapshot.indicators.insert("applications/b".into(), vec![indicator("dwellings", 100.0)]);
        let report = impact(&snapshot);
        assert_eq!(report.projects.len(), 2);
        assert_eq!(report.projects[0].lender_share(), 30.0);
        assert_eq!(report.projects[0].attributed(380.0), 114.0);
        assert_eq!(report.projects[1].financed, kr(400_000_000));
        assert_eq!(report.projects[1].lender_share(), 50.0);
        let housing = &report.by_category["HOUSING"];
        assert_eq!((housing.projects, housing.financed), (1, kr(600_000_000)));
        let low_income = &report.by_population["LOW_INCOME"];
        let dwellings = &low_income.indicators[&("dwellings".to_owned(), "count".to_owned())];
        assert_eq!((dwellings.projects, dwellings.total, dwellings.attributed), (2, 480.0, 164.0));
        assert_eq!(dwellings.weighted_mean(), 268.0);
        assert_eq!(report.bond_share, 61.45);
    }
}
