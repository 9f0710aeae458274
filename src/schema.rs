//! What the engine knows about a table: its definition as the shim gives it
//! (`TableDef`), its columns' roles (key, value, S3 attribute, user
//! metadata) and the neutral kind of value each one holds. The C++ shim maps
//! MariaDB field types onto these kinds; nothing here knows about MariaDB
//! types.

use crate::location::Server;

/// The neutral kind of a column's values, chosen by the shim from the field type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Signed integer (TINYINT..BIGINT, YEAR).
    Int,
    /// Unsigned integer (UNSIGNED integers, BIT).
    UInt,
    /// IEEE double (DOUBLE).
    Double,
    /// IEEE single (FLOAT): written with the shortest text that reads back as the same float.
    Float,
    /// Exact decimal number as text (DECIMAL).
    Number,
    /// UTF-8 text (CHAR/VARCHAR/TEXT in any charset, ENUM, SET, JSON).
    Text,
    /// Date/time as the server's text form (DATE, TIME, DATETIME, TIMESTAMP).
    Temporal,
    /// Bytes (BINARY/VARBINARY/BLOB, GEOMETRY).
    Bytes,
}

/// One value of one column, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// The body has no such field: the shim stores the column's default.
    Default,
    Int(i64),
    UInt(u64),
    Double(f64),
    Float(f32),
    Number(String),
    Text(String),
    Temporal(String),
    Bytes(Vec<u8>),
}

/// Whether two rows hold the same values, bit for bit (-0.0 is not 0.0):
/// an UPDATE to the same row needs no write (REPLACE and ON DUPLICATE KEY
/// UPDATE make such updates; InnoDB reports them as unchanged).
pub fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Value::Double(p), Value::Double(q)) => p.to_bits() == q.to_bits(),
            (Value::Float(p), Value::Float(q)) => p.to_bits() == q.to_bits(),
            _ => x == y,
        })
}

/// S3-provided attribute a column can show (`S3_ATTR=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    Size,
    LastModified,
    Etag,
    ContentType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The primary key: the object key minus the table prefix.
    Key,
    /// Part of the object body.
    Value,
    /// An S3 attribute of the object.
    Attr(Attr),
    /// User metadata `x-amz-meta-<name>` (name stored lowercase, as S3 returns it).
    Meta(String),
    /// A virtual generated column: the server computes it, nothing stores it.
    Computed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub role: Role,
    pub kind: CellKind,
    pub nullable: bool,
}

impl Column {
    /// A nullable column (tests and callers that do not care about NULL-ability).
    pub fn new(name: &str, role: Role, kind: CellKind) -> Column {
        Column {
            name: name.into(),
            role,
            kind,
            nullable: true,
        }
    }
}

/// How the value columns make an object body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The body is the one value column's bytes, verbatim.
    Raw,
    /// The body is a JSON object mapping column names to values.
    Json,
}

impl Format {
    /// The format a table gets when `FORMAT=` is not given: RAW for exactly one
    /// string/blob value column, JSON otherwise.
    pub fn default_for(columns: &[Column]) -> Format {
        let values: Vec<&Column> = columns.iter().filter(|c| c.role == Role::Value).collect();
        match values.as_slice() {
            [one] if matches!(one.kind, CellKind::Text | CellKind::Bytes) => Format::Raw,
            _ => Format::Json,
        }
    }

    /// The most bytes a body of this format may have to be a row, from each
    /// value column's name and the most bytes its value's text can take
    /// (0: unknown): RAW, the one value; JSON, braces and each value escaped
    /// (at most 6 bytes a byte) with its quoted name. `u64::MAX` (no limit)
    /// when a bound is unknown or there is nothing to bound.
    pub fn max_body(self, values: &[(&str, u64)]) -> u64 {
        if values.iter().any(|&(_, max)| max == 0) {
            return u64::MAX;
        }
        let total = match self {
            Format::Raw => values.iter().fold(0u64, |t, &(_, v)| t.saturating_add(v)),
            Format::Json => values.iter().fold(2u64, |t, &(name, v)| {
                t.saturating_add(v.saturating_mul(6))
                    .saturating_add(name.len() as u64 + 8)
            }),
        };
        if total == 0 {
            u64::MAX
        } else {
            total
        }
    }
}

/// Which S3 requests reading a set of columns needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fetch {
    /// Key, size, last_modified, etag: all in a LIST entry.
    ListOnly,
    /// User metadata or content type: a HEAD.
    Head,
    /// A value column: a GET.
    Get,
}

/// The cheapest request that yields every column in `needed`.
pub fn fetch_for(columns: &[Column], needed: &[bool]) -> Fetch {
    let mut fetch = Fetch::ListOnly;
    for (c, &n) in columns.iter().zip(needed) {
        if !n {
            continue;
        }
        let f = match c.role {
            Role::Key | Role::Attr(Attr::Size | Attr::LastModified | Attr::Etag) => Fetch::ListOnly,
            Role::Attr(Attr::ContentType) | Role::Meta(_) => Fetch::Head,
            Role::Value => Fetch::Get,
            Role::Computed => Fetch::ListOnly,
        };
        fetch = fetch.max(f);
    }
    fetch
}

/// Whether a scan reading `needed` may take rows from the row cache: a
/// cached version pins the body, key and LIST attributes, not the metadata
/// or Content-Type, which can be rewritten in place (`rowcache`).
pub fn row_cacheable(columns: &[Column], needed: &[bool]) -> bool {
    columns
        .iter()
        .zip(needed)
        .all(|(c, &n)| !n || !matches!(c.role, Role::Attr(Attr::ContentType) | Role::Meta(_)))
}

/// What the shim knows of a table at CREATE and open.
#[derive(Clone, Debug)]
pub struct TableDef {
    /// The server's path of the table (`./db/t`), where the location file lives.
    pub path: String,
    pub db: String,
    pub name: String,
    pub connection: String,
    /// `None`: chosen from the columns.
    pub format: Option<Format>,
    pub read_only: bool,
    /// The key column's collation ignores trailing spaces.
    pub key_pad_space: bool,
    pub columns: Vec<Column>,
    /// The CREATE SERVER that CONNECTION names, if it names one that exists.
    pub server: Option<Server>,
    /// The most bytes an object's body may have to be a row (from the value
    /// columns' types and max_allowed_packet); a longer one is not read.
    pub max_body: u64,
    /// At CREATE: the server's definition image and version id, for the
    /// shared catalogue (empty otherwise).
    pub frm: Vec<u8>,
    pub version: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, role: Role, kind: CellKind) -> Column {
        Column::new(name, role, kind)
    }

    #[test]
    fn format_defaults() {
        let key = col("k", Role::Key, CellKind::Text);
        let blob = col("v", Role::Value, CellKind::Bytes);
        let int = col("n", Role::Value, CellKind::Int);
        assert_eq!(
            Format::default_for(&[key.clone(), blob.clone()]),
            Format::Raw
        );
        assert_eq!(
            Format::default_for(&[key.clone(), int.clone()]),
            Format::Json
        );
        assert_eq!(Format::default_for(&[key.clone(), blob, int]), Format::Json);
        assert_eq!(Format::default_for(&[key]), Format::Json);
    }

    #[test]
    fn body_bounds_follow_the_format() {
        assert_eq!(Format::Raw.max_body(&[("v", 100)]), 100);
        // {"v":<6*100 escaped>} and "abc":...
        assert_eq!(Format::Json.max_body(&[("v", 100)]), 2 + 600 + 1 + 8);
        assert_eq!(
            Format::Json.max_body(&[("v", 100), ("abc", 64)]),
            2 + 600 + 9 + 384 + 11
        );
        assert_eq!(Format::Json.max_body(&[]), 2);
        assert_eq!(Format::Raw.max_body(&[]), u64::MAX);
        assert_eq!(Format::Json.max_body(&[("v", 0)]), u64::MAX);
    }

    #[test]
    fn same_rows_compare_bits() {
        let row = |d: f64| vec![Value::Text("k".into()), Value::Double(d), Value::Null];
        assert!(same_row(&row(1.5), &row(1.5)));
        assert!(!same_row(&row(0.0), &row(-0.0)));
        assert!(!same_row(&row(1.0), &row(1.0)[..2]));
        assert!(!same_row(&[Value::Null], &[Value::Default]));
        assert!(!same_row(&[Value::Int(1)], &[Value::UInt(1)]));
    }

    #[test]
    fn fetch_levels() {
        let cols = vec![
            col("k", Role::Key, CellKind::Text),
            col("size", Role::Attr(Attr::Size), CellKind::UInt),
            col("ct", Role::Attr(Attr::ContentType), CellKind::Text),
            col("m", Role::Meta("m".into()), CellKind::Text),
            col("v", Role::Value, CellKind::Bytes),
        ];
        assert_eq!(
            fetch_for(&cols, &[true, true, false, false, false]),
            Fetch::ListOnly
        );
        assert_eq!(
            fetch_for(&cols, &[true, false, true, false, false]),
            Fetch::Head
        );
        assert_eq!(
            fetch_for(&cols, &[false, false, false, true, false]),
            Fetch::Head
        );
        assert_eq!(
            fetch_for(&cols, &[true, true, true, true, true]),
            Fetch::Get
        );
    }
}
