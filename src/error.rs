//! The core's errors. They name what failed (S3 code, bucket, key); which
//! MariaDB `HA_ERR_*` code each one is decided once, at the boundary
//! (`ffi::code`), so this module depends on nothing above it.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// INSERT of a key that exists (If-None-Match failed).
    DupKey,
    /// A duplicate found by a concurrent write of a multi-row INSERT: the key.
    DupKeyDeferred(String),
    /// UPDATE of an object another writer changed or removed (If-Match failed).
    RecordChanged,
    NotFound,
    ReadOnly,
    /// The statement was killed while it waited on S3.
    Killed,
    /// Anything else: the message names what failed (S3 code, bucket, key).
    Engine(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DupKey => f.write_str("an object with this key exists"),
            Error::DupKeyDeferred(key) => f.write_str(key),
            Error::RecordChanged => {
                f.write_str("the object was changed or removed by another writer")
            }
            Error::NotFound => f.write_str("no such object"),
            Error::ReadOnly => f.write_str("the table is READONLY=YES"),
            Error::Killed => f.write_str("the statement was killed"),
            Error::Engine(m) => f.write_str(m),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<crate::store::S3Error> for Error {
    fn from(e: crate::store::S3Error) -> Self {
        Error::Engine(e.to_string())
    }
}
