//! What ALTER TABLE may do to an AWSS3 table. The objects are the table: a
//! change is made in place, without a request, when every stored object reads
//! the same under the new definition as under the old; anything else is
//! refused with the reason and what to do instead, and nothing is touched.
//! (A copy is never made: copying a table over an explicit CONNECTION into
//! its own location cannot work, and a copy of an engine-located table would
//! cost a GET and a PUT per row for changes a DBA expects to be instant.)
//!
//! The shim pairs each new column with the old one it comes from and says,
//! from the server's types, whether every value the old column can hold reads
//! back unchanged as the new one (`values_kept`): only the server knows types.

use crate::error::{Error, Result};
use crate::schema::{Column, Format, Role, TableDef};

/// Where a column of the new definition comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnOrigin {
    /// Index of the old column, `None` for an added column.
    pub old: Option<usize>,
    /// The old column's values read back unchanged from their stored form as
    /// values of the new column (same type, or a widening the stored text
    /// survives, such as INT to BIGINT or VARCHAR(10) to VARCHAR(20)).
    pub values_kept: bool,
    /// The new column's default is an expression (NOW(), UUID(), ...).
    pub default_is_expression: bool,
}

fn format_of(def: &TableDef) -> Format {
    def.format
        .unwrap_or_else(|| Format::default_for(&def.columns))
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Raw => "RAW",
        Format::Json => "JSON",
    }
}

fn refuse(why: String, instead: &str) -> Error {
    Error::Engine(format!(
        "this ALTER TABLE is not supported: {why}. Nothing was changed. {instead}"
    ))
}

const COPY_INSTEAD: &str = "To change it, create a table with the new definition \
     (over a new location) and INSERT ... SELECT the rows into it";

/// `Ok(dropped)`: the change is made in place, touching no object; `dropped`
/// is the table's list of JSON fields that older objects still hold for
/// columns no longer there (`dropped_before` plus what this ALTER drops),
/// which no new column may be named after.
pub fn check(
    old: &TableDef,
    new: &TableDef,
    origins: &[ColumnOrigin],
    dropped_before: &[String],
) -> Result<Vec<String>> {
    if origins.len() != new.columns.len() {
        return Err(Error::Engine(
            "ALTER TABLE: the column mapping does not match the new definition".into(),
        ));
    }
    if old.connection != new.connection {
        return Err(refuse(
            format!(
                "it changes CONNECTION from '{}' to '{}', which would make other objects \
                 the table's rows",
                old.connection, new.connection
            ),
            "To use another location, CREATE TABLE over it and INSERT ... SELECT \
             (a copy), or DROP this table (a CONNECTION table leaves its objects) and \
             CREATE it over the new location",
        ));
    }
    let (old_format, new_format) = (format_of(old), format_of(new));
    if old_format != new_format {
        // One string column left of a JSON table: the automatic choice would
        // read the JSON bodies as RAW text. Saying FORMAT keeps them JSON.
        let instead = if new.format.is_none() && old_format == Format::Json {
            "Add `FORMAT`=JSON to this ALTER TABLE to keep the JSON bodies (then it is \
             made in place)"
        } else {
            COPY_INSTEAD
        };
        return Err(refuse(
            format!(
                "the object body format would change from {} to {} (FORMAT=, or the number \
                 of value columns), and every object would need rewriting",
                format_name(old_format),
                format_name(new_format)
            ),
            instead,
        ));
    }
    // JSON fields this ALTER leaves behind in every object written so far.
    let mut dropped: Vec<String> = dropped_before.to_vec();
    if old_format == Format::Json {
        for (i, c) in old.columns.iter().enumerate() {
            if c.role == Role::Value
                && !origins.iter().any(|o| o.old == Some(i))
                && !dropped.contains(&c.name)
            {
                dropped.push(c.name.clone());
            }
        }
    }
    for (col, origin) in new.columns.iter().zip(origins) {
        let Some(i) = origin.old else {
            added(col, new_format)?;
            if col.role == Role::Value && origin.default_is_expression {
                return Err(refuse(
                    format!(
                        "the new column `{}` has an expression as its default, which objects \
                         written before would show evaluated anew at every read",
                        col.name
                    ),
                    "Add the column with a constant default (or none), then UPDATE it",
                ));
            }
            if col.role == Role::Value && dropped.contains(&col.name) {
                return Err(refuse(
                    format!(
                        "a column `{}` was dropped from this table, and the objects written \
                         before still hold its values: a new column of that name would show \
                         them instead of its default",
                        col.name
                    ),
                    "Give the new column another name",
                ));
            }
            continue;
        };
        let Some(was) = old.columns.get(i) else {
            return Err(Error::Engine(format!(
                "ALTER TABLE: column `{}` maps to old column {i}, which does not exist",
                col.name
            )));
        };
        kept(was, col, *origin, new_format)?;
        if was.role == Role::Key && col.role == Role::Key && !old.key_pad_space && new.key_pad_space
        {
            return Err(refuse(
                format!(
                    "the key column `{}` would get a PAD SPACE collation, under which \
                     stored keys that differ only in trailing spaces are equal",
                    col.name
                ),
                COPY_INSTEAD,
            ));
        }
    }
    // A RAW body is the value of its one value column: that must be the same
    // column before and after.
    if new_format == Format::Raw {
        let value_origin = new
            .columns
            .iter()
            .zip(origins)
            .find(|(c, _)| c.role == Role::Value)
            .and_then(|(_, o)| o.old);
        let old_value = old.columns.iter().position(|c| c.role == Role::Value);
        if value_origin != old_value {
            return Err(refuse(
                "the RAW body would be read as a different column".into(),
                COPY_INSTEAD,
            ));
        }
    }
    Ok(dropped)
}

/// An added column reads from what objects already hold.
fn added(col: &Column, format: Format) -> Result<()> {
    match &col.role {
        Role::Key => Err(refuse(
            format!("the new column `{}` would be the object key", col.name),
            COPY_INSTEAD,
        )),
        // JSON: the field is missing from every object, so it reads as the
        // column's default. RAW never reaches here with a second value
        // column (the format would change).
        Role::Value if format == Format::Json => Ok(()),
        Role::Value => Err(refuse(
            format!(
                "the new column `{}` would be read from the RAW body",
                col.name
            ),
            COPY_INSTEAD,
        )),
        // Filled from S3 for every object.
        Role::Attr(_) | Role::Meta(_) | Role::Computed => Ok(()),
    }
}

/// A column that stays (maybe renamed, retyped, moved) must read the same.
fn kept(was: &Column, col: &Column, origin: ColumnOrigin, format: Format) -> Result<()> {
    if was.role != col.role {
        return Err(refuse(
            format!(
                "column `{}` would change what it shows of each object (its S3_ATTR, \
                 S3_META or its place as the key)",
                col.name
            ),
            COPY_INSTEAD,
        ));
    }
    if !origin.values_kept || was.kind != col.kind {
        return Err(refuse(
            format!(
                "column `{}` would change type in a way its stored values do not survive \
                 (a narrower or different type, or another character set)",
                col.name
            ),
            "Widening changes (INT to BIGINT, VARCHAR(10) to VARCHAR(20), DECIMAL(5,2) to \
             DECIMAL(8,2), more ENUM members, utf8mb3 to utf8mb4) are made in place. \
             For this one, ADD a column of the new type, UPDATE it from the old one, and \
             DROP the old one",
        ));
    }
    if was.nullable && !col.nullable {
        return Err(refuse(
            format!(
                "column `{}` would become NOT NULL, and objects that hold NULL would \
                 read as something else",
                col.name
            ),
            "Keep the column NULL, or UPDATE the NULLs away through a new NOT NULL column",
        ));
    }
    if was.name != col.name && was.role == Role::Value && format == Format::Json {
        return Err(refuse(
            format!(
                "renaming `{}` to `{}` would need every object's JSON field renamed",
                was.name, col.name
            ),
            "ADD COLUMN with the new name, UPDATE t SET new = old, then DROP the old column \
             (each step is done in place or row by row with conditional writes)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attr, CellKind};

    fn col(name: &str, role: Role, kind: CellKind) -> Column {
        Column::new(name, role, kind)
    }

    fn def(columns: Vec<Column>) -> TableDef {
        TableDef {
            path: "./db/t".into(),
            db: "db".into(),
            name: "t".into(),
            connection: String::new(),
            format: None,
            read_only: false,
            key_pad_space: true,
            columns,
            server: None,
            max_body: u64::MAX,
            frm: Vec::new(),
            version: Vec::new(),
        }
    }

    fn json() -> TableDef {
        def(vec![
            col("k", Role::Key, CellKind::Text),
            col("a", Role::Value, CellKind::Int),
            col("b", Role::Value, CellKind::Text),
        ])
    }

    fn raw() -> TableDef {
        def(vec![
            col("k", Role::Key, CellKind::Text),
            col("body", Role::Value, CellKind::Bytes),
        ])
    }

    fn same(n: usize) -> Vec<ColumnOrigin> {
        (0..n)
            .map(|i| ColumnOrigin {
                old: Some(i),
                values_kept: true,
                default_is_expression: false,
            })
            .collect()
    }

    fn new_col() -> ColumnOrigin {
        ColumnOrigin {
            old: None,
            values_kept: true,
            default_is_expression: false,
        }
    }

    fn refused(r: Result<Vec<String>>, word: &str) {
        let e = r.expect_err("should be refused").to_string();
        assert!(e.contains(word), "{e}");
        assert!(e.contains("Nothing was changed"), "{e}");
    }

    #[test]
    fn metadata_changes_are_in_place() {
        let old = json();
        // COMMENT, READONLY, defaults: the same columns.
        let mut new = json();
        new.read_only = true;
        assert!(check(&old, &new, &same(3), &[]).is_ok());
        // Nullable again.
        let mut new = json();
        new.columns[1].nullable = false;
        let mut notnull = json();
        notnull.columns[1].nullable = false;
        assert!(check(&notnull, &json(), &same(3), &[]).is_ok());
        refused(check(&json(), &new, &same(3), &[]), "NOT NULL");
    }

    #[test]
    fn json_add_drop_reorder_are_in_place_rename_is_not() {
        let old = json();
        // ADD COLUMN c (a missing field reads as the default).
        let mut new = json();
        new.columns.push(col("c", Role::Value, CellKind::Double));
        let mut o = same(3);
        o.push(new_col());
        assert!(check(&old, &new, &o, &[]).is_ok());
        // ... but not with a default such as NOW(), evaluated at every read.
        o[3].default_is_expression = true;
        refused(check(&old, &new, &o, &[]), "expression");
        // DROP COLUMN a (unknown fields are ignored) ...
        let mut new = def(vec![
            col("k", Role::Key, CellKind::Text),
            col("b", Role::Value, CellKind::Text),
        ]);
        let o = vec![same(3)[0], same(3)[2]];
        // ... but one string column left would make the bodies RAW,
        refused(check(&old, &new, &o, &[]), "FORMAT`=JSON");
        // unless FORMAT=JSON says otherwise.
        new.format = Some(Format::Json);
        assert!(check(&old, &new, &o, &[]).is_ok());
        let new = def(vec![
            col("k", Role::Key, CellKind::Text),
            col("a", Role::Value, CellKind::Int),
        ]);
        assert!(check(&old, &new, &same(2), &[]).is_ok());
        // Reorder: b FIRST.
        let new = def(vec![
            col("b", Role::Value, CellKind::Text),
            col("k", Role::Key, CellKind::Text),
            col("a", Role::Value, CellKind::Int),
        ]);
        let o = vec![same(3)[2], same(3)[0], same(3)[1]];
        assert!(check(&old, &new, &o, &[]).is_ok());
        // Rename of a JSON value column: every object's field name.
        let mut new = json();
        new.columns[1].name = "a2".into();
        refused(check(&old, &new, &same(3), &[]), "JSON field");
        // Rename of the key column: object keys have no column name.
        let mut new = json();
        new.columns[0].name = "id".into();
        assert!(check(&old, &new, &same(3), &[]).is_ok());
    }

    #[test]
    fn type_changes_in_place_only_when_values_survive() {
        let old = json();
        let mut o = same(3);
        assert!(check(&old, &json(), &o, &[]).is_ok());
        o[1].values_kept = false;
        refused(check(&old, &json(), &o, &[]), "change type");
        // A different kind (INT to VARCHAR) is refused even if the shim says kept.
        let mut new = json();
        new.columns[1].kind = CellKind::Text;
        refused(check(&old, &new, &same(3), &[]), "change type");
    }

    #[test]
    fn raw_tables_keep_their_one_value_column() {
        let old = raw();
        // Rename of the RAW column: the body has no field names.
        let mut new = raw();
        new.columns[1].name = "content".into();
        assert!(check(&old, &new, &same(2), &[]).is_ok());
        // Adding an attribute or metadata column keeps RAW.
        let mut new = raw();
        new.columns
            .push(col("size", Role::Attr(Attr::Size), CellKind::UInt));
        new.columns
            .push(col("owner", Role::Meta("owner".into()), CellKind::Text));
        let mut o = same(2);
        o.extend([new_col(), new_col()]);
        assert!(check(&old, &new, &o, &[]).is_ok());
        // A second value column turns RAW into JSON.
        let mut new = raw();
        new.columns.push(col("n", Role::Value, CellKind::Int));
        let mut o = same(2);
        o.push(new_col());
        refused(check(&old, &new, &o, &[]), "from RAW to JSON");
        // Explicit FORMAT=JSON.
        let mut new = raw();
        new.format = Some(Format::Json);
        refused(check(&old, &new, &same(2), &[]), "from RAW to JSON");
        // Dropping the body column and adding another in its place.
        let new = def(vec![
            col("k", Role::Key, CellKind::Text),
            col("other", Role::Value, CellKind::Bytes),
        ]);
        refused(
            check(&old, &new, &[same(2)[0], new_col()], &[]),
            "read from the RAW body",
        );
    }

    #[test]
    fn roles_and_locations_do_not_change_in_place() {
        let old = json();
        let mut new = json();
        new.columns[2].role = Role::Meta("b".into());
        refused(check(&old, &new, &same(3), &[]), "S3_ATTR");
        let mut new = json();
        new.connection = "s3://elsewhere/p/".into();
        refused(check(&old, &new, &same(3), &[]), "CONNECTION");
        // A different column as the key.
        let new = def(vec![
            col("k", Role::Value, CellKind::Text),
            col("a", Role::Value, CellKind::Int),
            col("b", Role::Key, CellKind::Text),
        ]);
        refused(check(&old, &new, &same(3), &[]), "the key");
        // NO PAD to PAD SPACE key collation.
        let mut nopad = json();
        nopad.key_pad_space = false;
        refused(check(&nopad, &json(), &same(3), &[]), "PAD SPACE");
        assert!(check(&json(), &nopad, &same(3), &[]).is_ok());
    }

    #[test]
    fn dropped_json_fields_are_remembered_and_not_reused() {
        let old = json();
        // DROP COLUMN a: "a" stays in every object written so far.
        let new = def(vec![
            col("k", Role::Key, CellKind::Text),
            col("b", Role::Value, CellKind::Text),
        ]);
        let mut new = new;
        new.format = Some(Format::Json);
        let o = vec![same(3)[0], same(3)[2]];
        assert_eq!(check(&old, &new, &o, &[]).unwrap(), ["a"]);
        // Later: ADD COLUMN a would show the old values.
        let mut again = new.clone();
        again.columns.push(col("a", Role::Value, CellKind::Int));
        let o2 = vec![same(2)[0], same(2)[1], new_col()];
        refused(check(&new, &again, &o2, &["a".into()]), "was dropped");
        // In one statement: DROP COLUMN a, ADD COLUMN a.
        let mut o3 = same(3);
        o3[1] = new_col();
        refused(check(&old, &json(), &o3, &[]), "was dropped");
        // Another name is fine, and the list is kept.
        let mut other = new.clone();
        other.columns.push(col("a2", Role::Value, CellKind::Int));
        assert_eq!(check(&new, &other, &o2, &["a".into()]).unwrap(), ["a"]);
        // An S3_META column may take the name: it is not read from the body.
        let mut meta = new.clone();
        meta.columns
            .push(col("a", Role::Meta("a".into()), CellKind::Text));
        assert!(check(&new, &meta, &o2, &["a".into()]).is_ok());
        // RAW tables have no field names to remember.
        assert_eq!(
            check(&raw(), &raw(), &same(2), &[]).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_mapping_that_does_not_fit_is_an_error_not_a_panic() {
        assert!(check(&json(), &json(), &same(2), &[]).is_err());
        let mut o = same(3);
        o[2].old = Some(7);
        assert!(check(&json(), &json(), &o, &[]).is_err());
    }
}
