//! Money and numbers as a Swedish reader writes them (`12 500 000 kr`,
//! `1 234,5`) and as an English one does (`SEK 12,500,000`, `1,234.5`).

use crate::Language;

/// `minor_units` öre of Swedish kronor: `12 500 000 kr` (öre shown only
/// when there are any: `12 500 000,50 kr`), or in English `SEK 12,500,000`.
pub fn money(minor_units: i64, language: Language) -> String {
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = minor_units.unsigned_abs();
    let (kronor, ore) = (magnitude / 100, magnitude % 100);
    let (group, decimal) = separators(language);
    let mut amount = format!("{sign}{}", grouped(&kronor.to_string(), group));
    if ore != 0 {
        amount.push_str(&format!("{decimal}{ore:02}"));
    }
    match language {
        Language::Swedish => format!("{amount} kr"),
        Language::English => format!("SEK {amount}"),
    }
}

/// `value` with `decimals` digits after the decimal mark, its thousands
/// grouped: `1 234,50` in Swedish, `1,234.50` in English. Not a finite
/// number: written as Rust writes it.
pub fn number(value: f64, decimals: usize, language: Language) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let fixed = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let (group, decimal) = separators(language);
    let negative = value < 0.0 && fixed.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let sign = if negative { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{}", grouped(whole, group))
    } else {
        format!("{sign}{}{decimal}{fraction}", grouped(whole, group))
    }
}

/// A calendar date as both languages' documents write it: `2027-03-31`;
/// empty when there is none.
pub fn iso_date(date: Option<&socialloans_contracts::common::Date>) -> String {
    date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default()
}

/// The thousands separator and the decimal mark of `language`.
fn separators(language: Language) -> (char, char) {
    match language {
        Language::Swedish => (' ', ','),
        Language::English => (',', '.'),
    }
}

/// `digits` in groups of three from the right, separated by `group`.
fn grouped(digits: &str, group: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(group);
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Language::*;

    #[test]
    fn money_is_written_the_swedish_way_and_the_english_way() {
        assert_eq!(money(1_250_000_000, Swedish), "12 500 000 kr");
        assert_eq!(money(1_250_000_050, Swedish), "12 500 000,50 kr");
        assert_eq!(money(1_250_000_000, English), "SEK 12,500,000");
        assert_eq!(money(99_905, English), "SEK 999.05");
        assert_eq!(money(0, Swedish), "0 kr");
        assert_eq!(money(-12_345_600, Swedish), "-123 456 kr");
        assert_eq!(money(i64::MIN, Swedish), "-92 233 720 368 547 758,08 kr");
        assert_eq!(money(i64::MAX, English), "SEK 92,233,720,368,547,758.07");
    }

    #[test]
    fn numbers_group_thousands_and_use_the_languages_decimal_mark() {
        assert_eq!(number(1234.5, 1, Swedish), "1 234,5");
        assert_eq!(number(1234.5, 2, English), "1,234.50");
        assert_eq!(number(1_000_000.0, 0, Swedish), "1 000 000");
        assert_eq!(number(-0.04, 1, Swedish), "0,0", "no minus sign on a rounded zero");
        assert_eq!(number(-2500.25, 2, Swedish), "-2 500,25");
        assert_eq!(number(f64::NAN, 2, Swedish), "NaN");
        assert_eq!(number(1e300, 0, English).len(), 401, "huge values are written out, not wrapped");
    }
}
