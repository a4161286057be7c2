//! Fractional indexes: order keys that always leave room between two neighbours, so a move is
//! one property write and concurrent moves merge (ties are broken by object id).
//!
//! The scheme of rocicorp's `fractional-indexing`: a key is an integer part whose head letter
//! gives its length, then base-62 fraction digits (`0-9A-Za-z`, ASCII order) not ending in `0`.
//! Appending or prepending increments the integer, so keys stay short; comparison is plain
//! string comparison.

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE: u8 = 62;
/// The smallest integer part; no key may equal it (nothing could come before).
const SMALLEST_INTEGER: &str = "A00000000000000000000000000";

fn digit(c: u8) -> Option<u8> {
    DIGITS.iter().position(|&d| d == c).map(|p| p as u8)
}

/// Length of the integer part announced by its head character (`a`..`z`: 2..27 positive,
/// `A`..`Z`: 27..2 negative), so appending keeps keys logarithmically short.
fn integer_len(head: u8) -> Option<usize> {
    match head {
        b'a'..=b'z' => Some((head - b'a') as usize + 2),
        b'A'..=b'Z' => Some((b'Z' - head) as usize + 2),
        _ => None,
    }
}

/// Splits a key into its integer part and fraction digits, if well formed.
fn split(key: &str) -> Option<(&str, &str)> {
    let n = integer_len(*key.as_bytes().first()?)?;
    if key.len() < n || key == SMALLEST_INTEGER || !key.is_ascii() {
        return None;
    }
    let (int, frac) = key.split_at(n);
    let digits_ok = key.bytes().skip(1).all(|c| digit(c).is_some());
    (digits_ok && !frac.ends_with('0')).then_some((int, frac))
}

/// Is `key` a well-formed order key?
pub fn is_valid(key: &str) -> bool {
    split(key).is_some()
}

fn increment_integer(int: &str) -> Option<String> {
    let (head, digits) = int.split_at(1);
    let mut digits: Vec<u8> = digits.bytes().collect();
    for d in digits.iter_mut().rev() {
        let v = digit(*d)? + 1;
        if v == BASE {
            *d = b'0';
        } else {
            *d = DIGITS[v as usize];
            return Some(format!("{head}{}", String::from_utf8_lossy(&digits)));
        }
    }
    // Carried out of every digit: the next length.
    match head.as_bytes()[0] {
        b'Z' => Some("a0".into()),
        b'z' => None,
        h => {
            let h = h + 1;
            if h > b'a' {
                digits.push(b'0');
            } else {
                digits.pop();
            }
            Some(format!("{}{}", h as char, String::from_utf8_lossy(&digits)))
        }
    }
}

fn decrement_integer(int: &str) -> Option<String> {
    let (head, digits) = int.split_at(1);
    let mut digits: Vec<u8> = digits.bytes().collect();
    for d in digits.iter_mut().rev() {
        let v = digit(*d)?;
        if v == 0 {
            *d = b'z';
        } else {
            *d = DIGITS[v as usize - 1];
            return Some(format!("{head}{}", String::from_utf8_lossy(&digits)));
        }
    }
    match head.as_bytes()[0] {
        b'a' => Some("Zz".into()),
        b'A' => None,
        h => {
            let h = h - 1;
            if h < b'Z' {
                digits.push(b'z');
            } else {
                digits.pop();
            }
            Some(format!("{}{}", h as char, String::from_utf8_lossy(&digits)))
        }
    }
}

/// Fraction digits strictly between `a` (empty = 0) and `b` (`None` = 1), not ending in 0.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    if let Some(b) = b {
        // Skip the common prefix (a is padded with zeros).
        let mut n = 0;
        while n < b.len() && a.get(n).copied().unwrap_or(0) == b[n] {
            n += 1;
        }
        if n > 0 {
            let mut out = b[..n].to_vec();
            out.extend(midpoint(a.get(n..).unwrap_or(&[]), Some(&b[n..])));
            return out;
        }
    }
    let da = a.first().copied().unwrap_or(0);
    let db = b.and_then(|b| b.first().copied()).unwrap_or(BASE);
    if db - da > 1 {
        vec![(da + db) / 2]
    } else if let Some(b) = b.filter(|b| b.len() > 1) {
        // b = db followed by more digits: db alone lies between.
        vec![b[0]]
    } else {
        let mut out = vec![da];
        out.extend(midpoint(a.get(1..).unwrap_or(&[]), None));
        out
    }
}

fn frac_between(a: &str, b: Option<&str>) -> String {
    let ad: Vec<u8> = a.bytes().filter_map(digit).collect();
    let bd: Option<Vec<u8>> = b.map(|k| k.bytes().filter_map(digit).collect());
    midpoint(&ad, bd.as_deref()).into_iter().map(|d| DIGITS[d as usize] as char).collect()
}

/// A key strictly between `a` and `b` (`None` = the start / the end).
///
/// Malformed or out-of-order bounds are treated leniently (a malformed bound is ignored, a
/// `b` not above `a` is dropped), so a key written by another client never makes this fail.
pub fn key_between(a: Option<&str>, b: Option<&str>) -> String {
    let a = a.and_then(|k| split(k).map(|p| (k, p)));
    let b = b.and_then(|k| split(k).map(|p| (k, p)));
    let b = match (a, b) {
        (Some((ka, _)), Some((kb, _))) if ka >= kb => None,
        (_, b) => b,
    };
    match (a, b) {
        (None, None) => "a0".into(),
        (None, Some((kb, (ib, fb)))) => {
            if ib == SMALLEST_INTEGER {
                format!("{ib}{}", frac_between("", Some(fb)))
            } else if ib < kb {
                ib.to_owned()
            } else {
                decrement_integer(ib).unwrap_or_else(|| format!("{ib}{}", frac_between("", Some(fb))))
            }
        }
        (Some((_, (ia, fa))), None) => match increment_integer(ia) {
            Some(i) => i,
            None => format!("{ia}{}", frac_between(fa, None)),
        },
        (Some((_, (ia, fa))), Some((kb, (ib, fb)))) => {
            if ia == ib {
                return format!("{ia}{}", frac_between(fa, Some(fb)));
            }
            match increment_integer(ia) {
                Some(i) if i.as_str() < kb => i,
                _ => format!("{ia}{}", frac_between(fa, None)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn appends_and_prepends() {
        let mut keys = vec![key_between(None, None)];
        for _ in 0..200 {
            let last = keys.last().cloned();
            keys.push(key_between(last.as_deref(), None));
        }
        for _ in 0..200 {
            let first = keys.first().cloned();
            keys.insert(0, key_between(None, first.as_deref()));
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| is_valid(k)));
        assert!(keys.iter().all(|k| k.len() <= 3), "keys stay short: {keys:?}");
        let mut k = key_between(None, None);
        for _ in 0..100_000 {
            k = key_between(Some(&k), None);
        }
        assert!(k.len() <= 4, "100k appends: {k}");
    }

    #[test]
    fn repeated_bisection_stays_ordered() {
        let mut lo = key_between(None, None);
        let hi = key_between(Some(&lo), None);
        for _ in 0..100 {
            let m = key_between(Some(&lo), Some(&hi));
            assert!(lo < m && m < hi, "{lo} < {m} < {hi}");
            lo = m;
        }
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-c][0-9A-Za-z]{1,3}[0-9A-Za-z]{0,3}[1-9A-Za-z]".prop_filter_map("valid", |k| is_valid(&k).then_some(k))
    }

    proptest! {
        #[test]
        fn between_is_strictly_between(a in key(), b in key()) {
            prop_assume!(a != b);
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let m = key_between(Some(&lo), Some(&hi));
            prop_assert!(is_valid(&m));
            prop_assert!(lo < m && m < hi, "{} < {} < {}", lo, m, hi);
        }

        #[test]
        fn garbage_bounds_never_panic(a in ".{0,8}", b in ".{0,8}") {
            let m = key_between(Some(&a), Some(&b));
            prop_assert!(is_valid(&m));
        }
    }
}
