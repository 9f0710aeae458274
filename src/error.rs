//! Errors as the handler reports them: a MariaDB `HA_ERR_*` code plus, for
//! engine-specific failures, a message the shim shows through `print_error`.
//! The numbers are the boundary's (src/ffi.rs, which cbindgen needs as
//! literals); the shim static_asserts them against `my_base.h`.

use std::fmt;

use crate::ffi;

pub const HA_ERR_KEY_NOT_FOUND: i32 = ffi::AWSS3_HA_ERR_KEY_NOT_FOUND;
pub const HA_ERR_FOUND_DUPP_KEY: i32 = ffi::AWSS3_HA_ERR_FOUND_DUPP_KEY;
pub const HA_ERR_RECORD_CHANGED: i32 = ffi::AWSS3_HA_ERR_RECORD_CHANGED;
pub const HA_ERR_END_OF_FILE: i32 = ffi::AWSS3_HA_ERR_END_OF_FILE;
pub const HA_ERR_TABLE_READONLY: i32 = ffi::AWSS3_HA_ERR_TABLE_READONLY;
pub const HA_ERR_ABORTED_BY_USER: i32 = ffi::AWSS3_HA_ERR_ABORTED_BY_USER;
/// Engine failure described by `awss3_last_error` (outside the HA_ERR range).
pub const AWSS3_ERR_ENGINE: i32 = ffi::AWSS3_ERROR_ENGINE;
/// A duplicate key found after its row was handed over (concurrent multi-row
/// INSERT); the message is the key value.
pub const AWSS3_ERR_DUP_KEY_DEFERRED: i32 = ffi::AWSS3_ERROR_DUP_KEY_DEFERRED;
/// Not an error: the call did not finish within its wait; call again
/// (the shim checks for KILL in between).
pub const AWSS3_PENDING: i32 = ffi::AWSS3_ERROR_PENDING;

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

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::DupKey => HA_ERR_FOUND_DUPP_KEY,
            Error::DupKeyDeferred(_) => AWSS3_ERR_DUP_KEY_DEFERRED,
            Error::RecordChanged => HA_ERR_RECORD_CHANGED,
            Error::NotFound => HA_ERR_KEY_NOT_FOUND,
            Error::ReadOnly => HA_ERR_TABLE_READONLY,
            Error::Killed => HA_ERR_ABORTED_BY_USER,
            Error::Engine(_) => AWSS3_ERR_ENGINE,
        }
    }
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

impl From<crate::s3client::S3Error> for Error {
    fn from(e: crate::s3client::S3Error) -> Self {
        Error::Engine(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_engine_errors_carry_text() {
        let all = [
            Error::DupKey,
            Error::DupKeyDeferred("k".into()),
            Error::RecordChanged,
            Error::NotFound,
            Error::ReadOnly,
            Error::Killed,
            Error::Engine("x".into()),
        ];
        let mut codes: Vec<i32> = all.iter().map(Error::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(Error::Engine("boom".into()).to_string(), "boom");
    }
}
