//! The product's words in Swedish and English: the loan's three
//! categories and the five basic requirements every application is
//! assessed against, as the lender's documents name them.

use socialloans_contracts::{
    committee::BasicRequirement,
    common::{Category, TargetPopulation},
};

use crate::Language;

/// The name of `category` in `language`; empty for UNSPECIFIED.
pub fn category(category: Category, language: Language) -> &'static str {
    let (sv, en) = match category {
        Category::Unspecified => ("", ""),
        Category::HousingAndResidentialEnvironments => {
            ("Bostäder och boendemiljöer", "Housing and residential environments")
        }
        Category::SafetySecurityAndAccessibility => {
            ("Trygghet, säkerhet och tillgänglighet", "Safety, security and accessibility")
        }
        Category::HealthEducationSportAndCulture => {
            ("Hälsa, utbildning, idrott och kultur", "Health, education, sport and culture")
        }
    };
    pick(language, sv, en)
}

/// The name of the basic requirement `requirement` in `language`; empty
/// for UNSPECIFIED.
pub fn requirement(requirement: BasicRequirement, language: Language) -> &'static str {
    let (sv, en) = match requirement {
        BasicRequirement::Unspecified => ("", ""),
        BasicRequirement::PracticeDevelopment => ("Utveckling av verksamheten", "Development of practice"),
        BasicRequirement::SystematicWork => ("Systematiskt arbetssätt", "Systematic way of working"),
        BasicRequirement::DefinedTargetGroup => ("Definierad målgrupp", "Defined target group"),
        BasicRequirement::LongTerm => ("Långsiktighet", "Long-term commitment"),
        BasicRequirement::ObjectivesAndEvaluation => ("Mål och utvärdering", "Objectives and evaluation"),
    };
    pick(language, sv, en)
}

/// The name of the target population `population` (ICMA's Social Bond
/// Principles) in `language`; empty for UNSPECIFIED.
pub fn population(population: TargetPopulation, language: Language) -> &'static str {
    use TargetPopulation::*;
    let (sv, en) = match population {
        Unspecified => ("", ""),
        LowIncome => ("Låginkomsttagare", "Living below the poverty line"),
        ExcludedOrMarginalised => ("Utestängda eller marginaliserade grupper", "Excluded or marginalised"),
        PeopleWithDisabilities => ("Personer med funktionsnedsättning", "People with disabilities"),
        MigrantsAndDisplaced => ("Migranter och fördrivna", "Migrants and displaced persons"),
        Undereducated => ("Personer med kort utbildning", "Undereducated"),
        Underserved => ("Underförsörjda grupper", "Underserved"),
        Unemployed => ("Arbetslösa", "Unemployed"),
        WomenAndGenderMinorities => ("Kvinnor och köns- och sexuella minoriteter", "Women and gender minorities"),
        Ageing => ("Äldre", "Ageing populations"),
        ChildrenAndYouth => ("Barn och unga", "Children and youth"),
        GeneralPublic => ("Allmänheten", "General public"),
        OtherVulnerable => ("Andra utsatta grupper", "Other vulnerable groups"),
    };
    pick(language, sv, en)
}

/// `sv` or `en`, as `language` reads.
pub fn pick(language: Language, sv: &'static str, en: &'static str) -> &'static str {
    match language {
        Language::Swedish => sv,
        Language::English => en,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_and_requirement_has_a_swedish_and_an_english_name() {
        for value in 1..=3 {
            let c = Category::try_from(value).unwrap();
            assert!(!category(c, Language::Swedish).is_empty() && !category(c, Language::English).is_empty());
            assert_ne!(category(c, Language::Swedish), category(c, Language::English));
        }
        for value in 1..=5 {
            let r = BasicRequirement::try_from(value).unwrap();
            assert!(!requirement(r, Language::Swedish).is_empty() && !requirement(r, Language::English).is_empty());
            assert_ne!(requirement(r, Language::Swedish), requirement(r, Language::English));
        }
        assert_eq!(
            category(Category::HousingAndResidentialEnvironments, Language::Swedish),
            "Bostäder och boendemiljöer"
        );
    }
}
