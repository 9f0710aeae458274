//! Row values <-> object body, in the table's format (RAW or JSON).
//!
//! JSON bodies are written in table order and read leniently (unknown fields
//! ignored, numbers accepted as strings and vice versa where unambiguous) so
//! objects written by other tools can be read.

use std::fmt;
use std::fmt::Write as _;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::schema::{CellKind, Column, Format, Role, Value};

/// The user-metadata name RAW format uses to mark a NULL value (an empty body
/// alone means the empty string/bytes).
pub const RAW_NULL_META: &str = "awss3-null";

/// How much of an offending JSON value error messages show, in characters.
const SHOWN_JSON_CHARS: usize = 60;

/// Standard alphabet; padding optional on read since other writers omit it.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// A RAW body for a text column that is not UTF-8.
    TextNotUtf8 { column: String },
    /// A JSON-format body that does not parse as JSON.
    NotJson { reason: String },
    /// A JSON-format body that is JSON but not an object.
    NotObject { found: String },
    /// A field whose JSON value does not fit the column's kind.
    WrongType {
        column: String,
        expected: &'static str,
        found: String,
    },
    /// A numeric field outside the column's range.
    OutOfRange {
        column: String,
        range: &'static str,
        found: String,
    },
    /// A `{"base64": ...}` field whose text is not base64.
    BadBase64 { column: String, found: String },
    /// `out` has the wrong number of slots (a caller bug).
    SlotCount { expected: usize, found: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TextNotUtf8 { column } => {
                write!(f, "body is not valid UTF-8 for text column `{column}`")
            }
            DecodeError::NotJson { reason } => {
                write!(f, "body is not a JSON object: invalid JSON ({reason})")
            }
            DecodeError::NotObject { found } => {
                write!(f, "body is not a JSON object, found {found}")
            }
            DecodeError::WrongType {
                column,
                expected,
                found,
            } => write!(f, "column `{column}`: expected {expected}, found {found}"),
            DecodeError::OutOfRange {
                column,
                range,
                found,
            } => write!(f, "column `{column}`: {found} is out of range for {range}"),
            DecodeError::BadBase64 { column, found } => {
                write!(f, "column `{column}`: invalid base64 in {found}")
            }
            DecodeError::SlotCount { expected, found } => write!(
                f,
                "internal error: decoding needs {expected} column slots, got {found}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[derive(Debug, Clone, PartialEq)]
pub enum EncodeError {
    /// FORMAT=RAW with `found` value columns instead of one.
    RawNeedsOneValueColumn { found: usize },
    /// FORMAT=RAW with a value column that is neither text nor bytes.
    RawColumnNotString { column: String },
    /// A RAW value that is neither text nor bytes (a caller bug).
    RawValueNotString { column: String },
    /// NaN or infinity: JSON has no such numbers.
    NonFinite { column: String },
    /// `values` has the wrong length (a caller bug).
    ValueCount { expected: usize, found: usize },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::RawNeedsOneValueColumn { found } => write!(
                f,
                "FORMAT=RAW needs exactly one value column (a string or blob), the table has {found}"
            ),
            EncodeError::RawColumnNotString { column } => write!(
                f,
                "FORMAT=RAW needs a string or blob value column; column `{column}` is neither"
            ),
            EncodeError::RawValueNotString { column } => write!(
                f,
                "internal error: RAW column `{column}` was given a value that is not text or bytes"
            ),
            EncodeError::NonFinite { column } => write!(
                f,
                "column `{column}`: NaN and infinity cannot be stored in a JSON body"
            ),
            EncodeError::ValueCount { expected, found } => write!(
                f,
                "internal error: encoding needs {expected} column values, got {found}"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The body and the user metadata entries the body encoding adds (besides
/// S3_META columns).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub body: Vec<u8>,
    pub meta: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct ValueColumn {
    /// Position in the table's columns (and in `values`/`out`).
    index: usize,
    name: String,
    kind: CellKind,
    /// The name as a JSON string with its colon, written before every value.
    json_name: String,
}

/// Encodes and decodes the value columns of one table.
#[derive(Debug, Clone)]
pub struct Codec {
    format: Format,
    columns: usize,
    values: Vec<ValueColumn>,
}

impl Codec {
    /// columns: all table columns in table order (roles other than Value are
    /// ignored here).
    pub fn new(columns: &[Column], format: Format) -> Result<Codec, EncodeError> {
        let values: Vec<ValueColumn> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == Role::Value)
            .map(|(index, c)| ValueColumn {
                index,
                name: c.name.clone(),
                kind: c.kind,
                json_name: format!("{}:", json_string(&c.name)),
            })
            .collect();
        if format == Format::Raw {
            match values.as_slice() {
                [one] if matches!(one.kind, CellKind::Text | CellKind::Bytes) => {}
                [one] => {
                    return Err(EncodeError::RawColumnNotString {
                        column: one.name.clone(),
                    })
                }
                _ => {
                    return Err(EncodeError::RawNeedsOneValueColumn {
                        found: values.len(),
                    })
                }
            }
        }
        Ok(Codec {
            format,
            columns: columns.len(),
            values,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// values: one per table column, in table order (non-Value columns
    /// ignored). Value::Default is treated as Null.
    pub fn encode(&self, values: &[Value]) -> Result<Encoded, EncodeError> {
        if values.len() != self.columns {
            return Err(EncodeError::ValueCount {
                expected: self.columns,
                found: values.len(),
            });
        }
        match self.format {
            Format::Raw => self.encode_raw(values),
            Format::Json => self.encode_json(values),
        }
    }

    fn encode_raw(&self, values: &[Value]) -> Result<Encoded, EncodeError> {
        // `new` guarantees exactly one value column for RAW.
        let Some(col) = self.values.first() else {
            return Err(EncodeError::RawNeedsOneValueColumn { found: 0 });
        };
        let body = match &values[col.index] {
            Value::Null | Value::Default => {
                return Ok(Encoded {
                    body: Vec::new(),
                    meta: vec![(RAW_NULL_META.to_string(), "1".to_string())],
                })
            }
            Value::Text(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            _ => {
                return Err(EncodeError::RawValueNotString {
                    column: col.name.clone(),
                })
            }
        };
        Ok(Encoded {
            body,
            meta: Vec::new(),
        })
    }

    fn encode_json(&self, values: &[Value]) -> Result<Encoded, EncodeError> {
        let mut out = String::from("{");
        for (n, col) in self.values.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&col.json_name);
            write_json_value(&mut out, &col.name, &values[col.index])?;
        }
        out.push('}');
        Ok(Encoded {
            body: out.into_bytes(),
            meta: Vec::new(),
        })
    }

    /// Fills `out[i]` for every Value column i (out has one slot per table
    /// column; other slots are left untouched). `meta` is the object's user
    /// metadata as (lowercase name, value) pairs, possibly empty when unknown.
    pub fn decode(
        &self,
        body: &[u8],
        meta: &[(String, String)],
        out: &mut [Value],
    ) -> Result<(), DecodeError> {
        if out.len() != self.columns {
            return Err(DecodeError::SlotCount {
                expected: self.columns,
                found: out.len(),
            });
        }
        match self.format {
            Format::Raw => self.decode_raw(body, meta, out),
            Format::Json => self.decode_json(body, out),
        }
    }

    fn decode_raw(
        &self,
        body: &[u8],
        meta: &[(String, String)],
        out: &mut [Value],
    ) -> Result<(), DecodeError> {
        let Some(col) = self.values.first() else {
            return Ok(());
        };
        let is_null = meta
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(RAW_NULL_META));
        out[col.index] = if is_null {
            Value::Null
        } else if col.kind == CellKind::Bytes {
            Value::Bytes(body.to_vec())
        } else {
            match std::str::from_utf8(body) {
                Ok(s) => Value::Text(s.to_string()),
                Err(_) => {
                    return Err(DecodeError::TextNotUtf8 {
                        column: col.name.clone(),
                    })
                }
            }
        };
        Ok(())
    }

    fn decode_json(&self, body: &[u8], out: &mut [Value]) -> Result<(), DecodeError> {
        let parsed: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| DecodeError::NotJson {
                reason: e.to_string(),
            })?;
        let serde_json::Value::Object(fields) = parsed else {
            return Err(DecodeError::NotObject {
                found: shown(&parsed),
            });
        };
        for col in &self.values {
            out[col.index] = match fields.get(&col.name) {
                None => Value::Default,
                Some(v) => decode_field(col, v)?,
            };
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    // Serializing a str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

fn write_json_value(out: &mut String, column: &str, value: &Value) -> Result<(), EncodeError> {
    let non_finite = || EncodeError::NonFinite {
        column: column.to_string(),
    };
    // Writing to a String cannot fail, so the fmt::Results below are ignored.
    match value {
        Value::Null | Value::Default => out.push_str("null"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Double(d) => {
            if !d.is_finite() {
                return Err(non_finite());
            }
            // serde_json formats with ryu: the shortest text that reads back the same.
            out.push_str(&serde_json::to_string(d).map_err(|_| non_finite())?);
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(non_finite());
            }
            // Formatted as f32 so 0.1f32 is written "0.1".
            out.push_str(&serde_json::to_string(f).map_err(|_| non_finite())?);
        }
        Value::Number(text) => {
            if text.parse::<serde_json::Number>().is_ok() {
                out.push_str(text);
            } else {
                out.push_str(&json_string(text));
            }
        }
        Value::Text(s) | Value::Temporal(s) => out.push_str(&json_string(s)),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => out.push_str(&json_string(s)),
            Err(_) => {
                out.push_str("{\"base64\":\"");
                out.push_str(&STANDARD.encode(b));
                out.push_str("\"}");
            }
        },
    }
    Ok(())
}

/// The JSON text of `v` for error messages, cut to a readable length.
fn shown(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(SHOWN_JSON_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The result of reading integer text.
enum IntText {
    Ok(i128),
    /// Integer syntax, but too many digits even for i128.
    Huge,
    NotInteger,
}

/// Reads `[+-]digits`, nothing else (no spaces, fractions or exponents).
fn int_text(s: &str) -> IntText {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return IntText::NotInteger;
    }
    match s.parse::<i128>() {
        Ok(i) => IntText::Ok(i),
        Err(_) => IntText::Huge,
    }
}

fn decode_field(col: &ValueColumn, v: &serde_json::Value) -> Result<Value, DecodeError> {
    use serde_json::Value as J;
    let wrong = |expected: &'static str| DecodeError::WrongType {
        column: col.name.clone(),
        expected,
        found: shown(v),
    };
    let out_of_range = |range: &'static str| DecodeError::OutOfRange {
        column: col.name.clone(),
        range,
        found: shown(v),
    };
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match col.kind {
        CellKind::Int | CellKind::UInt => {
            let (expected, range) = if col.kind == CellKind::Int {
                ("an integer", "a signed 64-bit integer")
            } else {
                ("an unsigned integer", "an unsigned 64-bit integer")
            };
            let i = match v {
                J::Bool(b) => i128::from(*b),
                J::Number(n) => match int_text(n.as_str()) {
                    IntText::Ok(i) => i,
                    IntText::Huge => return Err(out_of_range(range)),
                    IntText::NotInteger => return Err(wrong(expected)),
                },
                J::String(s) => match int_text(s) {
                    IntText::Ok(i) => i,
                    IntText::Huge => return Err(out_of_range(range)),
                    IntText::NotInteger => return Err(wrong(expected)),
                },
                _ => return Err(wrong(expected)),
            };
            if col.kind == CellKind::Int {
                Value::Int(i64::try_from(i).map_err(|_| out_of_range(range))?)
            } else {
                Value::UInt(u64::try_from(i).map_err(|_| out_of_range(range))?)
            }
        }
        CellKind::Double => {
            let text = number_text(v).ok_or_else(|| wrong("a number"))?;
            let d: f64 = text.parse().map_err(|_| wrong("a number"))?;
            if !d.is_finite() {
                return Err(non_finite(
                    text,
                    wrong("a number"),
                    out_of_range("a double"),
                ));
            }
            Value::Double(d)
        }
        CellKind::Float => {
            // Parsed from the text as f32 (not via f64) so "0.1" is exactly 0.1f32.
            let text = number_text(v).ok_or_else(|| wrong("a number"))?;
            let f: f32 = text.parse().map_err(|_| wrong("a number"))?;
            if !f.is_finite() {
                return Err(non_finite(text, wrong("a number"), out_of_range("a float")));
            }
            Value::Float(f)
        }
        CellKind::Number => match v {
            J::Number(n) => Value::Number(n.as_str().to_string()),
            J::String(s) if s.parse::<serde_json::Number>().is_ok() => Value::Number(s.clone()),
            _ => return Err(wrong("a decimal number")),
        },
        CellKind::Text => match v {
            J::String(s) => Value::Text(s.clone()),
            J::Number(n) => Value::Text(n.as_str().to_string()),
            J::Bool(b) => Value::Text(b.to_string()),
            _ => return Err(wrong("a string")),
        },
        CellKind::Temporal => match v {
            J::String(s) => Value::Temporal(s.clone()),
            J::Number(n) => Value::Temporal(n.as_str().to_string()),
            _ => return Err(wrong("a date/time string")),
        },
        CellKind::Bytes => match v {
            J::String(s) => Value::Bytes(s.as_bytes().to_vec()),
            J::Object(obj) => match (obj.len(), obj.get("base64")) {
                (1, Some(J::String(b64))) => {
                    Value::Bytes(BASE64_LENIENT.decode(b64).map_err(|_| {
                        DecodeError::BadBase64 {
                            column: col.name.clone(),
                            found: shown(v),
                        }
                    })?)
                }
                _ => return Err(wrong("a string or {\"base64\": \"...\"}")),
            },
            _ => return Err(wrong("a string or {\"base64\": \"...\"}")),
        },
    })
}

/// Rust parses "inf" and "NaN" (not numbers) and overflows digits to infinity
/// (out of range): tell them apart by whether the text has digits.
fn non_finite(text: &str, wrong: DecodeError, out_of_range: DecodeError) -> DecodeError {
    if text.bytes().any(|b| b.is_ascii_digit()) {
        out_of_range
    } else {
        wrong
    }
}

/// The text of a JSON number, or of a string that may hold one.
fn number_text(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::Number(n) => Some(n.as_str()),
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attr;

    fn col(name: &str, role: Role, kind: CellKind) -> Column {
        Column::new(name, role, kind)
    }

    fn val(name: &str, kind: CellKind) -> Column {
        col(name, Role::Value, kind)
    }

    /// A JSON table: a key column, then one value column per entry.
    fn json_codec(kinds: &[(&str, CellKind)]) -> (Vec<Column>, Codec) {
        let mut cols = vec![col("k", Role::Key, CellKind::Text)];
        cols.extend(kinds.iter().map(|(n, k)| val(n, *k)));
        let codec = Codec::new(&cols, Format::Json).unwrap();
        (cols, codec)
    }

    /// Decodes into fresh slots whose key slot holds a sentinel.
    fn decode(
        codec: &Codec,
        body: &[u8],
        meta: &[(String, String)],
    ) -> Result<Vec<Value>, DecodeError> {
        let mut out = vec![Value::Temporal("untouched".into()); codec.columns];
        codec.decode(body, meta, &mut out)?;
        Ok(out)
    }

    /// Equality that tells -0.0 from 0.0 and compares floats bit for bit.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    fn body_text(e: &Encoded) -> &str {
        std::str::from_utf8(&e.body).unwrap()
    }

    /// Decodes one field `json` into a one-column table of `kind`.
    fn field(kind: CellKind, json: &str) -> Result<Value, DecodeError> {
        let (_, codec) = json_codec(&[("v", kind)]);
        let out = decode(&codec, format!("{{\"v\":{json}}}").as_bytes(), &[])?;
        Ok(out[1].clone())
    }

    #[test]
    fn json_sample_row_exact_text() {
        let cols = vec![
            col("k", Role::Key, CellKind::Text),
            val("a", CellKind::Int),
            col("size", Role::Attr(Attr::Size), CellKind::UInt),
            val("b", CellKind::Text),
            col("m", Role::Meta("m".into()), CellKind::Text),
            val("c", CellKind::Text),
        ];
        let codec = Codec::new(&cols, Format::Json).unwrap();
        assert_eq!(codec.format(), Format::Json);
        let values = [
            Value::Text("key".into()),
            Value::Int(1),
            Value::UInt(7),
            Value::Null,
            Value::Text("meta".into()),
            Value::Text("x".into()),
        ];
        let enc = codec.encode(&values).unwrap();
        assert_eq!(body_text(&enc), r#"{"a":1,"b":null,"c":"x"}"#);
        assert!(enc.meta.is_empty());

        let mut out = vec![Value::Temporal("untouched".into()); cols.len()];
        codec.decode(&enc.body, &[], &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                Value::Temporal("untouched".into()),
                Value::Int(1),
                Value::Temporal("untouched".into()),
                Value::Null,
                Value::Temporal("untouched".into()),
                Value::Text("x".into()),
            ]
        );
    }

    #[test]
    fn json_exact_text_every_kind() {
        let (_, codec) = json_codec(&[
            ("i", CellKind::Int),
            ("u", CellKind::UInt),
            ("d", CellKind::Double),
            ("f", CellKind::Float),
            ("n", CellKind::Number),
            ("t", CellKind::Text),
            ("tm", CellKind::Temporal),
            ("b", CellKind::Bytes),
            ("nb", CellKind::Bytes),
            ("dflt", CellKind::Int),
        ]);
        let values = [
            Value::Text("key".into()),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Double(0.1),
            Value::Float(0.1),
            Value::Number("-123.450".into()),
            Value::Text("é😀\"\\\n\u{1}".into()),
            Value::Temporal("2024-01-02 03:04:05.123456".into()),
            Value::Bytes(b"abc".to_vec()),
            Value::Bytes(vec![0xff]),
            Value::Default,
        ];
        let enc = codec.encode(&values).unwrap();
        assert_eq!(
            body_text(&enc),
            concat!(
                r#"{"i":-9223372036854775808,"u":18446744073709551615,"d":0.1,"f":0.1,"#,
                r#""n":-123.450,"t":"é😀\"\\\n\u0001","tm":"2024-01-02 03:04:05.123456","#,
                r#""b":"abc","nb":{"base64":"/w=="},"dflt":null}"#
            )
        );
    }

    #[test]
    fn float_texts_are_shortest() {
        // Shortest digits as serde_json's formatter writes them (signed exponents).
        let cases: &[(Value, &str)] = &[
            (Value::Float(0.1), "0.1"),
            (Value::Float(f32::MAX), "3.4028235e+38"),
            (Value::Float(-0.0), "-0.0"),
            (Value::Double(0.1), "0.1"),
            (Value::Double(-0.0), "-0.0"),
            (Value::Double(5e-324), "5e-324"),
            (Value::Double(f64::MAX), "1.7976931348623157e+308"),
            (Value::Double(1.0), "1.0"),
            (Value::Double(1e300), "1e+300"),
        ];
        let (_, codec) = json_codec(&[("v", CellKind::Double)]);
        for (v, text) in cases {
            let enc = codec.encode(&[Value::Null, v.clone()]).unwrap();
            assert_eq!(body_text(&enc), format!("{{\"v\":{text}}}"), "{v:?}");
        }
    }

    #[test]
    fn json_round_trips_boundaries() {
        let cases: Vec<(CellKind, Vec<Value>)> = vec![
            (
                CellKind::Int,
                vec![
                    Value::Int(i64::MIN),
                    Value::Int(i64::MAX),
                    Value::Int(0),
                    Value::Int(-1),
                ],
            ),
            (CellKind::UInt, vec![Value::UInt(0), Value::UInt(u64::MAX)]),
            (
                CellKind::Double,
                [
                    f64::MAX,
                    f64::MIN,
                    f64::MIN_POSITIVE,
                    5e-324,
                    2.225_073_858_507_201e-308,
                    -0.0,
                    0.0,
                    0.1,
                    1e300,
                    123_456_789.0,
                ]
                .into_iter()
                .map(Value::Double)
                .collect(),
            ),
            (
                CellKind::Float,
                [
                    0.1f32,
                    f32::MAX,
                    f32::MIN,
                    f32::MIN_POSITIVE,
                    1e-45,
                    -0.0,
                    16_777_216.0,
                ]
                .into_iter()
                .map(Value::Float)
                .collect(),
            ),
            (
                CellKind::Number,
                [
                    "-99999999999999999999999999999999999.999999999999999999999999999999",
                    "0.000",
                    "-123.450",
                    "0",
                    "-0.5",
                ]
                .into_iter()
                .map(|s| Value::Number(s.into()))
                .collect(),
            ),
            (
                CellKind::Text,
                [
                    "",
                    "é文😀",
                    "quote\" back\\ nl\n nul\u{0}",
                    "{\"base64\":\"AA==\"}",
                ]
                .into_iter()
                .map(|s| Value::Text(s.into()))
                .collect(),
            ),
            (
                CellKind::Temporal,
                vec![
                    Value::Temporal("2024-02-29 23:59:59.999999".into()),
                    Value::Temporal("-838:59:59".into()),
                ],
            ),
            (
                CellKind::Bytes,
                vec![
                    Value::Bytes(vec![]),
                    Value::Bytes(vec![0xff, 0xfe, 0x00]),
                    Value::Bytes(vec![0x80]),
                    Value::Bytes(b"plain".to_vec()),
                    Value::Bytes("😀".as_bytes().to_vec()),
                    Value::Bytes((0..=255).collect()),
                ],
            ),
        ];
        for (kind, values) in cases {
            let (_, codec) = json_codec(&[("v", kind), ("w", kind)]);
            for v in values.iter().chain([&Value::Null]) {
                let enc = codec
                    .encode(&[Value::Null, v.clone(), Value::Null])
                    .unwrap();
                let out = decode(&codec, &enc.body, &[]).unwrap();
                assert!(
                    same(&out[1], v),
                    "{kind:?}: {v:?} came back as {:?}",
                    out[1]
                );
                assert_eq!(out[2], Value::Null);
            }
        }
    }

    #[test]
    fn empty_and_null_stay_distinct_in_json() {
        let (_, codec) = json_codec(&[("t", CellKind::Text), ("b", CellKind::Bytes)]);
        let empty = [
            Value::Null,
            Value::Text(String::new()),
            Value::Bytes(vec![]),
        ];
        let enc = codec.encode(&empty).unwrap();
        assert_eq!(body_text(&enc), r#"{"t":"","b":""}"#);
        assert_eq!(decode(&codec, &enc.body, &[]).unwrap()[1..], empty[1..]);

        let nulls = [Value::Null, Value::Null, Value::Null];
        let enc = codec.encode(&nulls).unwrap();
        assert_eq!(body_text(&enc), r#"{"t":null,"b":null}"#);
        assert_eq!(decode(&codec, &enc.body, &[]).unwrap()[1..], nulls[1..]);
    }

    #[test]
    fn float_is_parsed_as_f32_not_via_f64() {
        // Just below the midpoint between 1+2^-23 and 1+2^-22: direct parsing
        // gives the lower one; going through f64 lands on the midpoint and
        // rounds to even (the upper one).
        let got = field(CellKind::Float, "1.0000001788139343261718749").unwrap();
        assert!(
            same(&got, &Value::Float(f32::from_bits(0x3f80_0001))),
            "{got:?}"
        );
        let got = field(CellKind::Float, "\"0.1\"").unwrap();
        assert!(same(&got, &Value::Float(0.1)), "{got:?}");
    }

    #[test]
    fn missing_field_is_default_and_unknown_fields_are_ignored() {
        let (_, codec) = json_codec(&[("a", CellKind::Int), ("b", CellKind::Text)]);
        let out = decode(&codec, br#"{"zzz":[1,{"x":2}],"b":"y","A":5}"#, &[]).unwrap();
        assert_eq!(
            out,
            vec![
                Value::Temporal("untouched".into()),
                Value::Default,
                Value::Text("y".into())
            ]
        );
        let out = decode(&codec, b"{}", &[]).unwrap();
        assert_eq!(out[1..], [Value::Default, Value::Default]);
        // Field order in the body does not matter.
        let out = decode(&codec, br#" { "b" : "y" , "a" : 3 } "#, &[]).unwrap();
        assert_eq!(out[1..], [Value::Int(3), Value::Text("y".into())]);
    }

    #[test]
    fn column_names_are_escaped() {
        let (_, codec) = json_codec(&[("we\"ird\\ é", CellKind::Int)]);
        let enc = codec.encode(&[Value::Null, Value::Int(1)]).unwrap();
        assert_eq!(body_text(&enc), r#"{"we\"ird\\ é":1}"#);
        assert_eq!(decode(&codec, &enc.body, &[]).unwrap()[1], Value::Int(1));
    }

    #[test]
    fn no_value_columns_make_an_empty_object() {
        let (_, codec) = json_codec(&[]);
        let enc = codec.encode(&[Value::Text("k".into())]).unwrap();
        assert_eq!(body_text(&enc), "{}");
        assert_eq!(decode(&codec, br#"{"x":1}"#, &[]).unwrap().len(), 1);
    }

    #[test]
    fn invalid_decimal_text_is_written_as_a_string() {
        let (_, codec) = json_codec(&[("n", CellKind::Number)]);
        for (text, json) in [
            ("1.", r#""1.""#),
            ("abc", r#""abc""#),
            (" 1", r#"" 1""#),
            ("+1", r#""+1""#),
        ] {
            let enc = codec
                .encode(&[Value::Null, Value::Number(text.into())])
                .unwrap();
            assert_eq!(body_text(&enc), format!("{{\"n\":{json}}}"));
        }
    }

    #[test]
    fn lenient_field_reading() {
        let cases: &[(CellKind, &str, Value)] = &[
            (CellKind::Int, r#""42""#, Value::Int(42)),
            (
                CellKind::Int,
                r#""-9223372036854775808""#,
                Value::Int(i64::MIN),
            ),
            (CellKind::Int, "-0", Value::Int(0)),
            (CellKind::Int, "true", Value::Int(1)),
            (CellKind::Int, "false", Value::Int(0)),
            (
                CellKind::UInt,
                r#""18446744073709551615""#,
                Value::UInt(u64::MAX),
            ),
            (CellKind::UInt, r#""-0""#, Value::UInt(0)),
            (CellKind::UInt, "true", Value::UInt(1)),
            (CellKind::Double, r#""1.5""#, Value::Double(1.5)),
            (CellKind::Double, "7", Value::Double(7.0)),
            (CellKind::Double, "1E2", Value::Double(100.0)),
            (
                CellKind::Number,
                r#""-1.50""#,
                Value::Number("-1.50".into()),
            ),
            (CellKind::Number, "12", Value::Number("12".into())),
            (CellKind::Text, "1.50", Value::Text("1.50".into())),
            (CellKind::Text, "true", Value::Text("true".into())),
            (
                CellKind::Temporal,
                "20240101",
                Value::Temporal("20240101".into()),
            ),
            (
                CellKind::Bytes,
                r#"{"base64":"AAE="}"#,
                Value::Bytes(vec![0, 1]),
            ),
            (
                CellKind::Bytes,
                r#"{"base64":"AAE"}"#,
                Value::Bytes(vec![0, 1]),
            ),
            (CellKind::Bytes, r#"{"base64":""}"#, Value::Bytes(vec![])),
            (
                CellKind::Bytes,
                r#""é""#,
                Value::Bytes("é".as_bytes().to_vec()),
            ),
        ];
        for (kind, json, want) in cases {
            assert_eq!(&field(*kind, json).unwrap(), want, "{kind:?} {json}");
        }
    }

    #[test]
    fn body_errors() {
        let (_, codec) = json_codec(&[("v", CellKind::Text)]);
        for body in [&b"not json"[..], b"", b"{\"v\":\"\xff\"}", b"{\"v\":1"] {
            let err = decode(&codec, body, &[]).unwrap_err();
            assert!(matches!(err, DecodeError::NotJson { .. }), "{err:?}");
            assert!(
                err.to_string()
                    .starts_with("body is not a JSON object: invalid JSON ("),
                "{err}"
            );
        }
        for (body, found) in [
            ("[1,2]", "[1,2]"),
            ("\"s\"", "\"s\""),
            ("null", "null"),
            ("3", "3"),
        ] {
            let err = decode(&codec, body.as_bytes(), &[]).unwrap_err();
            assert_eq!(
                err,
                DecodeError::NotObject {
                    found: found.into()
                }
            );
            assert_eq!(
                err.to_string(),
                format!("body is not a JSON object, found {found}")
            );
        }
    }

    #[test]
    fn field_type_errors() {
        use CellKind::*;
        let cases: &[(CellKind, &str, &str)] = &[
            (
                Int,
                r#""abc""#,
                r#"column `v`: expected an integer, found "abc""#,
            ),
            (Int, "1.5", "column `v`: expected an integer, found 1.5"),
            (Int, "1e3", "column `v`: expected an integer, found 1e+3"),
            (
                Int,
                r#"" 1""#,
                r#"column `v`: expected an integer, found " 1""#,
            ),
            (Int, "[1]", "column `v`: expected an integer, found [1]"),
            (Int, "{}", "column `v`: expected an integer, found {}"),
            (
                UInt,
                r#""x""#,
                r#"column `v`: expected an unsigned integer, found "x""#,
            ),
            (
                Double,
                r#""abc""#,
                r#"column `v`: expected a number, found "abc""#,
            ),
            (
                Double,
                r#""NaN""#,
                r#"column `v`: expected a number, found "NaN""#,
            ),
            (
                Double,
                r#""inf""#,
                r#"column `v`: expected a number, found "inf""#,
            ),
            (Double, "true", "column `v`: expected a number, found true"),
            (Float, "[0.5]", "column `v`: expected a number, found [0.5]"),
            (
                Number,
                r#""abc""#,
                r#"column `v`: expected a decimal number, found "abc""#,
            ),
            (
                Number,
                r#"" 1""#,
                r#"column `v`: expected a decimal number, found " 1""#,
            ),
            (
                Number,
                "true",
                "column `v`: expected a decimal number, found true",
            ),
            (
                Text,
                r#"["a"]"#,
                r#"column `v`: expected a string, found ["a"]"#,
            ),
            (
                Text,
                r#"{"a":1}"#,
                r#"column `v`: expected a string, found {"a":1}"#,
            ),
            (
                Temporal,
                "false",
                "column `v`: expected a date/time string, found false",
            ),
            (
                Bytes,
                "5",
                r#"column `v`: expected a string or {"base64": "..."}, found 5"#,
            ),
            (
                Bytes,
                r#"{"base64":"AA==","x":1}"#,
                r#"column `v`: expected a string or {"base64": "..."}, found {"base64":"AA==","x":1}"#,
            ),
            (
                Bytes,
                r#"{"b64":"AA=="}"#,
                r#"column `v`: expected a string or {"base64": "..."}, found {"b64":"AA=="}"#,
            ),
            (
                Bytes,
                r#"{"base64":7}"#,
                r#"column `v`: expected a string or {"base64": "..."}, found {"base64":7}"#,
            ),
        ];
        for (kind, json, msg) in cases {
            let err = field(*kind, json).unwrap_err();
            assert!(
                matches!(err, DecodeError::WrongType { .. }),
                "{kind:?} {json}: {err:?}"
            );
            assert_eq!(err.to_string(), *msg, "{kind:?} {json}");
        }
    }

    #[test]
    fn field_range_errors() {
        use CellKind::*;
        let huge = "9".repeat(50);
        let cases: &[(CellKind, &str, &str)] = &[
            (Int, "9223372036854775808", "a signed 64-bit integer"),
            (Int, "-9223372036854775809", "a signed 64-bit integer"),
            (Int, &huge, "a signed 64-bit integer"),
            (UInt, "-1", "an unsigned 64-bit integer"),
            (UInt, "18446744073709551616", "an unsigned 64-bit integer"),
            (UInt, r#""-5""#, "an unsigned 64-bit integer"),
            // JSON number exponents are shown as serde_json keeps them: signed.
            (Double, "1e+400", "a double"),
            (Double, r#""-1e400""#, "a double"),
            (Float, "1e+39", "a float"),
        ];
        for (kind, json, range) in cases {
            let err = field(*kind, json).unwrap_err();
            assert!(
                matches!(err, DecodeError::OutOfRange { .. }),
                "{kind:?} {json}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("column `v`: {json} is out of range for {range}")
            );
        }
    }

    #[test]
    fn bad_base64() {
        let err = field(CellKind::Bytes, r#"{"base64":"!!!"}"#).unwrap_err();
        assert_eq!(
            err,
            DecodeError::BadBase64 {
                column: "v".into(),
                found: r#"{"base64":"!!!"}"#.into()
            }
        );
        assert_eq!(
            err.to_string(),
            r#"column `v`: invalid base64 in {"base64":"!!!"}"#
        );
        // URL-safe alphabet is not standard base64.
        let err = field(CellKind::Bytes, r#"{"base64":"_w=="}"#).unwrap_err();
        assert!(matches!(err, DecodeError::BadBase64 { .. }), "{err:?}");
    }

    #[test]
    fn long_offending_json_is_truncated() {
        let json = format!("[{}]", vec!["1"; 100].join(","));
        let err = field(CellKind::Text, &json).unwrap_err();
        let DecodeError::WrongType { found, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(found, &format!("{}...", &json[..SHOWN_JSON_CHARS]));
        // Cut on a character boundary: 100 emoji are 400 bytes.
        let err = field(CellKind::Int, &format!("\"{}\"", "😀".repeat(100))).unwrap_err();
        let DecodeError::WrongType { found, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            found,
            &format!("\"{}...", "😀".repeat(SHOWN_JSON_CHARS - 1))
        );
    }

    #[test]
    fn encode_errors() {
        let (_, codec) = json_codec(&[("d", CellKind::Double)]);
        for v in [
            Value::Double(f64::NAN),
            Value::Double(f64::INFINITY),
            Value::Double(f64::NEG_INFINITY),
            Value::Float(f32::NAN),
            Value::Float(f32::INFINITY),
        ] {
            let err = codec.encode(&[Value::Null, v]).unwrap_err();
            assert_eq!(err, EncodeError::NonFinite { column: "d".into() });
            assert_eq!(
                err.to_string(),
                "column `d`: NaN and infinity cannot be stored in a JSON body"
            );
        }
        let err = codec.encode(&[Value::Null]).unwrap_err();
        assert_eq!(
            err,
            EncodeError::ValueCount {
                expected: 2,
                found: 1
            }
        );
        let mut out = vec![Value::Null; 3];
        let err = codec.decode(b"{}", &[], &mut out).unwrap_err();
        assert_eq!(
            err,
            DecodeError::SlotCount {
                expected: 2,
                found: 3
            }
        );
    }

    fn raw_cols(kind: CellKind) -> Vec<Column> {
        vec![
            col("k", Role::Key, CellKind::Text),
            col("m", Role::Meta("m".into()), CellKind::Text),
            val("v", kind),
            col("etag", Role::Attr(Attr::Etag), CellKind::Text),
        ]
    }

    fn null_meta() -> Vec<(String, String)> {
        vec![(RAW_NULL_META.to_string(), "1".to_string())]
    }

    #[test]
    fn raw_table_shape_errors() {
        let key = col("k", Role::Key, CellKind::Text);
        let err = Codec::new(std::slice::from_ref(&key), Format::Raw).unwrap_err();
        assert_eq!(err, EncodeError::RawNeedsOneValueColumn { found: 0 });
        let two = [
            key.clone(),
            val("a", CellKind::Text),
            val("b", CellKind::Bytes),
        ];
        let err = Codec::new(&two, Format::Raw).unwrap_err();
        assert_eq!(err, EncodeError::RawNeedsOneValueColumn { found: 2 });
        assert_eq!(
            err.to_string(),
            "FORMAT=RAW needs exactly one value column (a string or blob), the table has 2"
        );
        for kind in [
            CellKind::Int,
            CellKind::Temporal,
            CellKind::Number,
            CellKind::Double,
        ] {
            let err = Codec::new(&[key.clone(), val("n", kind)], Format::Raw).unwrap_err();
            assert_eq!(err, EncodeError::RawColumnNotString { column: "n".into() });
            assert_eq!(
                err.to_string(),
                "FORMAT=RAW needs a string or blob value column; column `n` is neither"
            );
        }
        let codec = Codec::new(&raw_cols(CellKind::Bytes), Format::Raw).unwrap();
        assert_eq!(codec.format(), Format::Raw);
    }

    #[test]
    fn raw_round_trips_verbatim() {
        let cases = [
            (CellKind::Text, Value::Text("é文😀 {\"a\":1}\n".into())),
            (CellKind::Text, Value::Text(String::new())),
            (CellKind::Bytes, Value::Bytes(vec![0xff, 0, 0x80])),
            (CellKind::Bytes, Value::Bytes(vec![])),
        ];
        for (kind, v) in cases {
            let codec = Codec::new(&raw_cols(kind), Format::Raw).unwrap();
            let values = [
                Value::Text("key".into()),
                Value::Text("meta".into()),
                v.clone(),
                Value::Text("etag".into()),
            ];
            let enc = codec.encode(&values).unwrap();
            let want: &[u8] = match &v {
                Value::Text(s) => s.as_bytes(),
                Value::Bytes(b) => b,
                _ => unreachable!(),
            };
            assert_eq!(enc.body, want);
            assert!(enc.meta.is_empty());
            let out = decode(&codec, &enc.body, &[]).unwrap();
            let sentinel = Value::Temporal("untouched".into());
            assert_eq!(out, vec![sentinel.clone(), sentinel.clone(), v, sentinel]);
        }
    }

    #[test]
    fn raw_null_uses_metadata() {
        for kind in [CellKind::Text, CellKind::Bytes] {
            let codec = Codec::new(&raw_cols(kind), Format::Raw).unwrap();
            for null in [Value::Null, Value::Default] {
                let enc = codec
                    .encode(&[Value::Null, Value::Null, null, Value::Null])
                    .unwrap();
                assert_eq!(
                    enc,
                    Encoded {
                        body: vec![],
                        meta: null_meta()
                    }
                );
                assert_eq!(
                    decode(&codec, &enc.body, &enc.meta).unwrap()[2],
                    Value::Null
                );
            }
            // An empty body without the marker is the empty value, not NULL.
            let empty = if kind == CellKind::Text {
                Value::Text(String::new())
            } else {
                Value::Bytes(vec![])
            };
            let other_meta = vec![("m".to_string(), "x".to_string())];
            assert_eq!(decode(&codec, b"", &other_meta).unwrap()[2], empty);
            assert_eq!(decode(&codec, b"", &[]).unwrap()[2], empty);
        }
    }

    #[test]
    fn raw_errors() {
        let codec = Codec::new(&raw_cols(CellKind::Text), Format::Raw).unwrap();
        let err = decode(&codec, b"ok\xff", &[]).unwrap_err();
        assert_eq!(err, DecodeError::TextNotUtf8 { column: "v".into() });
        assert_eq!(
            err.to_string(),
            "body is not valid UTF-8 for text column `v`"
        );

        let bytes = Codec::new(&raw_cols(CellKind::Bytes), Format::Raw).unwrap();
        assert_eq!(
            decode(&bytes, b"ok\xff", &[]).unwrap()[2],
            Value::Bytes(b"ok\xff".to_vec())
        );

        let err = codec
            .encode(&[Value::Null, Value::Null, Value::Int(1), Value::Null])
            .unwrap_err();
        assert_eq!(err, EncodeError::RawValueNotString { column: "v".into() });
        let err = codec.encode(&[Value::Null]).unwrap_err();
        assert_eq!(
            err,
            EncodeError::ValueCount {
                expected: 4,
                found: 1
            }
        );
    }
}
