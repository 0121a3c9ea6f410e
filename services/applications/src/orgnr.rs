//! Swedish organisation numbers (organisationsnummer): `NNNNNN-NNNN`, the last
//! digit a Luhn check digit over the other nine.

/// Why an organisation number is not valid.
pub fn check(number: &str) -> Result<(), &'static str> {
    let bytes = number.as_bytes();
    let shape =
        bytes.len() == 11 && bytes[6] == b'-' && bytes.iter().enumerate().all(|(i, b)| i == 6 || b.is_ascii_digit());
    if !shape {
        return Err("must be NNNNNN-NNNN (ten digits with a hyphen after the sixth)");
    }
    let digits: Vec<u32> = bytes.iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = if i % 2 == 0 { d * 2 } else { *d };
            v / 10 + v % 10
        })
        .sum();
    if (10 - sum % 10) % 10 == digits[9] { Ok(()) } else { Err("has a wrong check digit (Luhn)") }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn valid_numbers_pass_and_a_wrong_check_digit_or_shape_fails() {
        for valid in ["212000-0142", "556000-0001", "202100-6255"] {
            assert_eq!(check(valid), Ok(()), "{valid}");
        }
        assert!(check("212000-0143").unwrap_err().contains("check digit"));
        for malformed in ["2120000142", "212000-014", "21200A-0142", "212000+0142", ""] {
            assert!(check(malformed).unwrap_err().contains("NNNNNN-NNNN"), "{malformed}");
        }
    }
}
