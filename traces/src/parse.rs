//! Byte-level field splitting and exact number parsing (no floats) shared by the
//! CSV and whitespace-separated readers.

use crate::error::{found_text, BadRowKind, Column, FieldError, Found};
use crate::record::{Amount, AttrValue, Micro, NormalizedFraction, Symbol};

/// How fields are separated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    /// One comma between fields; empty fields are missing values.
    Comma,
    /// Runs of spaces or tabs; leading and trailing blanks are ignored.
    Blanks,
}

/// A cursor over the fields of one line, which knows the table's field names so
/// that every error names its column.
///
/// In comma mode the typed getters parse numbers in the same pass that finds the
/// field's end (one pass over the bytes); anything unusual falls back to splitting
/// first and parsing after, which also builds the error.
pub(crate) struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    /// Number of fields returned so far.
    col: usize,
    names: &'static [&'static str],
    min: usize,
    sep: Sep,
    done: bool,
}

impl<'a> Fields<'a> {
    /// A cursor over `line` of a table with the given field names; rows may have
    /// between `min` and `names.len()` fields.
    #[inline]
    pub fn new(line: &'a [u8], names: &'static [&'static str], min: usize, sep: Sep) -> Self {
        let mut f = Fields {
            line,
            pos: 0,
            col: 0,
            names,
            min,
            sep,
            done: false,
        };
        if sep == Sep::Blanks {
            f.skip_blanks();
            f.done = f.pos >= line.len();
        }
        f
    }

    /// Consumes the current field if it ends at `end` (a comma or the line's end).
    #[inline(always)]
    fn take_until(&mut self, end: usize) -> bool {
        match self.line.get(end) {
            None => {
                self.done = true;
                self.pos = end;
            }
            Some(b',') => self.pos = end + 1,
            Some(_) => return false,
        }
        self.col += 1;
        true
    }

    /// Comma mode fast path: a field of at most 19 digits (or empty), parsed while
    /// finding its end. `None` (nothing consumed) for anything else.
    #[inline(always)]
    fn fused_u64(&mut self) -> Option<Option<u64>> {
        if self.sep != Sep::Comma || self.done {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        let mut v: u64 = 0;
        while let Some(&b) = self.line.get(i) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        let n = i - start;
        if n > 19 || !self.take_until(i) {
            return None;
        }
        Some(if n == 0 { None } else { Some(v) })
    }

    /// Comma mode fast path for decimals `digits[.digits][e[+-]digits]` (or empty).
    #[inline(always)]
    fn fused_decimal(&mut self) -> Option<Option<Decimal>> {
        if self.sep != Sep::Comma || self.done {
            return None;
        }
        let line = self.line;
        let start = self.pos;
        let mut i = start;
        let mut m: u64 = 0;
        let mut digits = 0u32;
        let mut frac = 0i32;
        let mut dot = false;
        while let Some(&b) = line.get(i) {
            let d = b.wrapping_sub(b'0');
            if d < 10 {
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                digits += 1;
                frac -= i32::from(dot);
            } else if b == b'.' && !dot {
                dot = true;
            } else {
                break;
            }
            i += 1;
        }
        if digits > 19 {
            return None;
        }
        if i == start {
            return self.take_until(i).then_some(None);
        }
        if digits == 0 {
            return None;
        }
        if let Some(b'e' | b'E') = line.get(i) {
            i += 1;
            let neg = match line.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let e_start = i;
            let mut e: i32 = 0;
            while let Some(&b) = line.get(i) {
                let d = b.wrapping_sub(b'0');
                if d > 9 || i - e_start >= 4 {
                    break;
                }
                e = e * 10 + i32::from(d);
                i += 1;
            }
            if i == e_start {
                return None;
            }
            frac += if neg { -e } else { e };
        }
        if !self.take_until(i) {
            return None;
        }
        Some(Some(Decimal {
            negative: false,
            mantissa: m,
            exp10: frac,
        }))
    }

    fn skip_blanks(&mut self) {
        while self.pos < self.line.len() && matches!(self.line[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
    }

    /// The column of the field returned last.
    pub fn column(&self) -> Option<Column> {
        let i = self.col.checked_sub(1)?;
        Some(Column::Field {
            number: u32::try_from(self.col).unwrap_or(u32::MAX),
            name: self.names.get(i).copied().unwrap_or("extra"),
        })
    }

    fn expected_columns(&self) -> String {
        if self.min == self.names.len() {
            format!("{} columns", self.names.len())
        } else {
            format!("{}-{} columns", self.min, self.names.len())
        }
    }

    /// The row's total number of fields (only computed for error messages).
    fn count_all(&self) -> usize {
        match self.sep {
            Sep::Comma => 1 + self.line.iter().filter(|&&b| b == b',').count(),
            Sep::Blanks => self
                .line
                .split(|&b| matches!(b, b' ' | b'\t'))
                .filter(|f| !f.is_empty())
                .count(),
        }
    }

    #[cold]
    #[inline(never)]
    fn missing_column(&self) -> FieldError {
        let number = self.col + 1;
        FieldError::new(
            Some(Column::Field {
                number: u32::try_from(number).unwrap_or(u32::MAX),
                name: self.names.get(self.col).copied().unwrap_or("extra"),
            }),
            BadRowKind::MissingColumn,
            self.expected_columns(),
            Found::Plain(format!("{} columns", self.col)),
        )
    }

    /// The next raw field.
    #[inline]
    pub fn raw(&mut self) -> Result<&'a [u8], FieldError> {
        if self.done {
            return Err(self.missing_column());
        }
        self.col += 1;
        let rest = self.line.get(self.pos..).unwrap_or(&[]);
        if self.sep == Sep::Comma {
            return Ok(match crate::input::find_byte(rest, b',') {
                Some(i) => {
                    self.pos += i + 1;
                    &rest[..i]
                }
                None => {
                    self.pos = self.line.len();
                    self.done = true;
                    rest
                }
            });
        }
        let n = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t'))
            .unwrap_or(rest.len());
        self.pos += n;
        self.skip_blanks();
        self.done = self.pos >= self.line.len();
        Ok(&rest[..n])
    }

    /// True if every field has been read.
    pub fn at_end(&self) -> bool {
        self.done
    }

    /// Checks that the row has no fields left, or at least `min` fields.
    pub fn finish(&self) -> Result<(), FieldError> {
        if !self.done {
            let total = self.count_all();
            return Err(FieldError::new(
                None,
                BadRowKind::ExtraColumn,
                self.expected_columns(),
                Found::Plain(format!("{total} columns")),
            ));
        }
        Ok(())
    }

    /// An error about the field returned last.
    pub fn error(
        &self,
        kind: BadRowKind,
        expected: impl Into<std::borrow::Cow<'static, str>>,
        found: &[u8],
    ) -> FieldError {
        FieldError::new(self.column(), kind, expected, found_text(found))
    }

    /// A required unsigned integer.
    #[inline]
    pub fn u64(&mut self, expected: &'static str) -> Result<u64, FieldError> {
        match self.fused_u64() {
            Some(Some(v)) => return Ok(v),
            Some(None) => return Err(self.error(BadRowKind::MissingValue, expected, b"")),
            None => {}
        }
        let f = self.raw()?;
        parse_u64(f).map_err(|k| self.error(k, expected, f))
    }

    /// An optional unsigned integer (empty = `None`).
    #[inline]
    pub fn opt_u64(&mut self, expected: &'static str) -> Result<Option<u64>, FieldError> {
        if let Some(v) = self.fused_u64() {
            return Ok(v);
        }
        let f = self.raw()?;
        if f.is_empty() {
            return Ok(None);
        }
        parse_u64(f)
            .map(Some)
            .map_err(|k| self.error(k, expected, f))
    }

    #[cold]
    #[inline(never)]
    fn bad_code(&self, v: u64, expected: &'static str) -> FieldError {
        self.error(BadRowKind::UnknownCode, expected, v.to_string().as_bytes())
    }

    /// A required integer code in `0..=max`, with `expected` naming the range.
    #[inline]
    pub fn code(&mut self, max: u64, expected: &'static str) -> Result<u8, FieldError> {
        let v = self.u64(expected)?;
        if v <= max {
            Ok(v as u8)
        } else {
            Err(self.bad_code(v, expected))
        }
    }

    /// An optional integer code in `0..=max`.
    #[inline]
    pub fn opt_code(&mut self, max: u64, expected: &'static str) -> Result<Option<u8>, FieldError> {
        match self.opt_u64(expected)? {
            None => Ok(None),
            Some(v) if v <= max => Ok(Some(v as u8)),
            Some(v) => Err(self.bad_code(v, expected)),
        }
    }

    /// An optional non-negative decimal scaled by 10^`scale` and rounded.
    #[inline]
    pub fn opt_scaled(
        &mut self,
        scale: i32,
        expected: &'static str,
    ) -> Result<Option<u64>, FieldError> {
        match self.fused_decimal() {
            Some(None) => return Ok(None),
            Some(Some(d)) => {
                if let Some(v) = d.scaled_abs(scale) {
                    return Ok(Some(v));
                }
                let f = self.line.get(..self.pos).unwrap_or(&[]);
                let f = f.strip_suffix(b",").unwrap_or(f);
                let start = f.iter().rposition(|&b| b == b',').map_or(0, |i| i + 1);
                return Err(self.error(BadRowKind::OutOfRange, expected, &f[start..]));
            }
            None => {}
        }
        let f = self.raw()?;
        if f.is_empty() {
            return Ok(None);
        }
        scaled_nonneg(f, scale)
            .map(Some)
            .map_err(|k| self.error(k, expected, f))
    }

    /// An optional normalised fraction (a decimal where 1.0 is the reference).
    #[inline]
    pub fn opt_normalized(&mut self) -> Result<Option<Amount>, FieldError> {
        Ok(self
            .opt_scaled(9, "a non-negative decimal number")?
            .map(|v| Amount::Normalized(NormalizedFraction(v))))
    }

    /// An optional dimensionless value in millionths.
    #[inline]
    pub fn opt_micro(&mut self) -> Result<Option<Micro>, FieldError> {
        Ok(self
            .opt_scaled(6, "a non-negative decimal number")?
            .map(Micro))
    }

    /// An optional 0/1 flag.
    #[inline]
    pub fn opt_bool(&mut self) -> Result<Option<bool>, FieldError> {
        let f = self.raw()?;
        match f {
            b"" => Ok(None),
            b"0" => Ok(Some(false)),
            b"1" => Ok(Some(true)),
            _ => Err(self.error(BadRowKind::UnknownCode, "0 or 1", f)),
        }
    }

    /// A required 0/1 flag.
    pub fn bool(&mut self) -> Result<bool, FieldError> {
        let f = self.raw()?;
        match f {
            b"0" => Ok(false),
            b"1" => Ok(true),
            b"" => Err(self.error(BadRowKind::MissingValue, "0 or 1", f)),
            _ => Err(self.error(BadRowKind::UnknownCode, "0 or 1", f)),
        }
    }

    /// An optional hashed string.
    #[inline]
    pub fn opt_symbol(&mut self) -> Result<Option<Symbol>, FieldError> {
        let f = self.raw()?;
        Ok(if f.is_empty() {
            None
        } else {
            Some(Symbol::of(f))
        })
    }

    /// A required hashed string.
    pub fn symbol(&mut self) -> Result<Symbol, FieldError> {
        let f = self.raw()?;
        if f.is_empty() {
            return Err(self.error(BadRowKind::MissingValue, "a non-empty string", f));
        }
        Ok(Symbol::of(f))
    }

    /// An optional attribute value: an integer or a hashed string.
    pub fn opt_attr_value(&mut self) -> Result<Option<AttrValue>, FieldError> {
        let f = self.raw()?;
        Ok(attr_value(f))
    }
}

/// An attribute value: integers as such, anything else hashed; empty is `None`.
pub(crate) fn attr_value(f: &[u8]) -> Option<AttrValue> {
    if f.is_empty() {
        return None;
    }
    Some(match parse_i64(f) {
        Ok(v) => AttrValue::Int(v),
        Err(_) => AttrValue::Symbol(Symbol::of(f)),
    })
}

/// Parses an unsigned decimal integer.
#[inline]
pub(crate) fn parse_u64(f: &[u8]) -> Result<u64, BadRowKind> {
    if f.is_empty() {
        return Err(BadRowKind::MissingValue);
    }
    if f.len() <= 19 {
        let mut v: u64 = 0;
        for &b in f {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(if b == b'-' && f.len() > 1 {
                    BadRowKind::OutOfRange
                } else {
                    BadRowKind::NotANumber
                });
            }
            v = v * 10 + u64::from(d);
        }
        return Ok(v);
    }
    let mut v: u64 = 0;
    for &b in f {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(BadRowKind::NotANumber);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(BadRowKind::OutOfRange)?;
    }
    Ok(v)
}

/// Parses a signed decimal integer.
pub(crate) fn parse_i64(f: &[u8]) -> Result<i64, BadRowKind> {
    let (neg, digits) = match f {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, f),
    };
    if digits.is_empty() {
        return Err(if f.is_empty() {
            BadRowKind::MissingValue
        } else {
            BadRowKind::NotANumber
        });
    }
    let v = parse_u64(digits).map_err(|k| {
        if k == BadRowKind::MissingValue {
            BadRowKind::NotANumber
        } else {
            k
        }
    })?;
    if neg {
        if v <= i64::MAX as u64 + 1 {
            Ok((v as i64).wrapping_neg())
        } else {
            Err(BadRowKind::OutOfRange)
        }
    } else {
        i64::try_from(v).map_err(|_| BadRowKind::OutOfRange)
    }
}

/// Powers of ten that fit a u64.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A decimal number as sign, integer mantissa and power of ten.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub negative: bool,
    pub mantissa: u64,
    pub exp10: i32,
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` exactly (at most 19 significant
/// digits are kept; further digits are dropped).
#[inline]
pub(crate) fn parse_decimal(f: &[u8]) -> Result<Decimal, BadRowKind> {
    // Fast path: up to 19 digits and one dot, optionally `e[+-]NN` (what Google
    // writes); anything else takes the general path below.
    if f.len() <= 20 {
        let mut m: u64 = 0;
        let mut digits = 0usize;
        let mut frac: i32 = 0;
        let mut dot = false;
        let mut i = 0;
        while i < f.len() {
            let b = f[i];
            let d = b.wrapping_sub(b'0');
            if d < 10 {
                // Wrapping: a 20-digit value is discarded below anyway.
                m = m.wrapping_mul(10).wrapping_add(u64::from(d));
                digits += 1;
                frac -= i32::from(dot);
            } else if b == b'.' && !dot {
                dot = true;
            } else {
                break;
            }
            i += 1;
        }
        if digits > 0 && digits <= 19 {
            if i == f.len() {
                return Ok(Decimal {
                    negative: false,
                    mantissa: m,
                    exp10: frac,
                });
            }
            if (f[i] == b'e' || f[i] == b'E') && f.len() - i <= 5 {
                let (neg, start) = match f.get(i + 1) {
                    Some(b'-') => (true, i + 2),
                    Some(b'+') => (false, i + 2),
                    _ => (false, i + 1),
                };
                let exp = &f[start.min(f.len())..];
                if !exp.is_empty() && exp.iter().all(u8::is_ascii_digit) {
                    let e = exp.iter().fold(0i32, |a, &b| a * 10 + i32::from(b - b'0'));
                    return Ok(Decimal {
                        negative: false,
                        mantissa: m,
                        exp10: frac + if neg { -e } else { e },
                    });
                }
            }
        }
    }
    parse_decimal_slow(f)
}

fn parse_decimal_slow(f: &[u8]) -> Result<Decimal, BadRowKind> {
    if f.is_empty() {
        return Err(BadRowKind::MissingValue);
    }
    let mut i = 0;
    let mut negative = false;
    match f[0] {
        b'-' => {
            negative = true;
            i = 1;
        }
        b'+' => i = 1,
        _ => {}
    }
    let mut mantissa: u64 = 0;
    let mut digits = 0u32; // significant digits kept
    let mut exp10: i32 = 0;
    let mut seen_digit = false;
    while i < f.len() && f[i].is_ascii_digit() {
        seen_digit = true;
        let d = u64::from(f[i] - b'0');
        if digits < 19 {
            if mantissa != 0 || d != 0 {
                digits += 1;
            }
            mantissa = mantissa * 10 + d;
        } else {
            exp10 = exp10.saturating_add(1);
        }
        i += 1;
    }
    if i < f.len() && f[i] == b'.' {
        i += 1;
        while i < f.len() && f[i].is_ascii_digit() {
            seen_digit = true;
            let d = u64::from(f[i] - b'0');
            if digits < 19 {
                if mantissa != 0 || d != 0 {
                    digits += 1;
                }
                mantissa = mantissa * 10 + d;
                exp10 = exp10.saturating_sub(1);
            }
            i += 1;
        }
    }
    if !seen_digit {
        return Err(BadRowKind::NotANumber);
    }
    if i < f.len() && (f[i] == b'e' || f[i] == b'E') {
        i += 1;
        let mut eneg = false;
        if i < f.len() && (f[i] == b'-' || f[i] == b'+') {
            eneg = f[i] == b'-';
            i += 1;
        }
        let start = i;
        let mut e: i32 = 0;
        while i < f.len() && f[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(f[i] - b'0'));
            i += 1;
        }
        if i == start {
            return Err(BadRowKind::NotANumber);
        }
        exp10 = exp10.saturating_add(if eneg { -e } else { e });
    }
    if i != f.len() {
        return Err(BadRowKind::NotANumber);
    }
    Ok(Decimal {
        negative: negative && mantissa != 0,
        mantissa,
        exp10,
    })
}

impl Decimal {
    /// |value| × 10^scale, rounded half up; `None` if it does not fit a u64.
    pub fn scaled_abs(self, scale: i32) -> Option<u64> {
        if self.mantissa == 0 {
            return Some(0);
        }
        let e = self.exp10.saturating_add(scale);
        if e >= 0 {
            if e > 19 {
                return None;
            }
            self.mantissa.checked_mul(POW10[e as usize])
        } else {
            let d = e.unsigned_abs() as usize;
            if d > 19 {
                // mantissa < 10^19 ≤ 10^d / 2 for d ≥ 20: rounds to 0
                return Some(0);
            }
            let p = POW10[d];
            let q = self.mantissa / p;
            let r = self.mantissa % p;
            Some(if r >= p - r { q + 1 } else { q })
        }
    }

    /// The value × 10^scale as a signed integer, rounded half away from zero.
    pub fn scaled_i64(self, scale: i32) -> Option<i64> {
        let abs = self.scaled_abs(scale)?;
        if self.negative {
            if abs <= i64::MAX as u64 + 1 {
                Some((abs as i64).wrapping_neg())
            } else {
                None
            }
        } else {
            i64::try_from(abs).ok()
        }
    }
}

/// A non-negative decimal × 10^scale.
#[inline]
pub(crate) fn scaled_nonneg(f: &[u8], scale: i32) -> Result<u64, BadRowKind> {
    // Fast path: short plain decimals such as `0.06873`.
    let d = parse_decimal(f)?;
    if d.negative {
        return Err(BadRowKind::OutOfRange);
    }
    d.scaled_abs(scale).ok_or(BadRowKind::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"6251537638"), Ok(6_251_537_638));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(BadRowKind::OutOfRange)
        );
        assert_eq!(parse_u64(b"x"), Err(BadRowKind::NotANumber));
        assert_eq!(parse_u64(b"-1"), Err(BadRowKind::OutOfRange));
        assert_eq!(parse_u64(b""), Err(BadRowKind::MissingValue));
        assert_eq!(parse_i64(b"-1"), Ok(-1));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(
            parse_i64(b"9223372036854775808"),
            Err(BadRowKind::OutOfRange)
        );
        assert_eq!(parse_i64(b"-"), Err(BadRowKind::NotANumber));
    }

    #[test]
    fn decimals_are_exact() {
        let s = |f: &[u8], scale| scaled_nonneg(f, scale);
        assert_eq!(s(b"0.06873", 9), Ok(68_730_000));
        assert_eq!(s(b"7.057e-05", 9), Ok(70_570));
        assert_eq!(s(b"1", 9), Ok(1_000_000_000));
        assert_eq!(s(b"0.2493", 9), Ok(249_300_000));
        assert_eq!(s(b"1.5e-10", 9), Ok(0));
        assert_eq!(s(b"2.5e-9", 9), Ok(3));
        assert_eq!(s(b"43.04", 7), Ok(430_400_000));
        assert_eq!(s(b".5", 1), Ok(5));
        assert_eq!(s(b"5.", 1), Ok(50));
        assert_eq!(s(b"-0", 9), Ok(0));
        assert_eq!(s(b"-1", 9), Err(BadRowKind::OutOfRange));
        assert_eq!(s(b"1e400", 9), Err(BadRowKind::OutOfRange));
        assert_eq!(s(b"1e-400", 9), Ok(0));
        assert_eq!(s(b"nan", 9), Err(BadRowKind::NotANumber));
        assert_eq!(s(b"1e", 9), Err(BadRowKind::NotANumber));
        assert_eq!(s(b".", 9), Err(BadRowKind::NotANumber));
        assert_eq!(s(b"1.2.3", 9), Err(BadRowKind::NotANumber));
        assert_eq!(
            s(b"123456789012345678901234567890", 0),
            Err(BadRowKind::OutOfRange)
        );
        assert_eq!(parse_decimal(b"-18.00").unwrap().scaled_i64(0), Some(-18));
    }

    #[test]
    fn fields_name_their_columns() {
        const NAMES: &[&str] = &["a", "b", "c"];
        let mut f = Fields::new(b"1,,x", NAMES, 3, Sep::Comma);
        assert_eq!(f.u64("an integer"), Ok(1));
        assert_eq!(f.opt_u64("an integer"), Ok(None));
        let e = f.u64("an integer").unwrap_err();
        assert_eq!(
            e.column,
            Some(Column::Field {
                number: 3,
                name: "c"
            })
        );
        assert_eq!(e.kind, BadRowKind::NotANumber);
        let mut f = Fields::new(b"1,2", NAMES, 3, Sep::Comma);
        f.raw().unwrap();
        f.raw().unwrap();
        let e = f.raw().unwrap_err();
        assert_eq!(e.found, Found::Plain("2 columns".into()));
        let mut f = Fields::new(b"  1   2 3  4 ", NAMES, 3, Sep::Blanks);
        for want in [&b"1"[..], b"2", b"3"] {
            assert_eq!(f.raw().unwrap(), want);
        }
        assert_eq!(
            f.finish().unwrap_err().found,
            Found::Plain("4 columns".into())
        );
    }
}
