//! The C boundary: every function the C++ shim calls. Each one converts its
//! arguments, calls one method of the core, and returns an `HA_ERR_*` code
//! (0 = success); a failure's message is kept per thread for
//! `awss3_last_error`. Every function runs inside `guard`, the one panic
//! boundary: a panic becomes an error code, never an unwind into mysqld.
//!
//! `cpp_shim/awss3.h` is generated from this file by cbindgen (build.rs) and
//! the build fails when the committed header differs.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::Error;
use crate::location::Server;
use crate::schema::{same_row, Attr, CellKind, Column, Format, Role, TableDef, Value};
use crate::table::{self, Table};
use crate::{
    alter, catalog, ddl, discovery, insert, keyrange, lookups, metrics, progress, rowcache,
    runtime, settings, stats, window,
};

// The boundary's enumerations are C enums in the header (cbindgen), but the
// fields and arguments that carry them are `int32_t`: a number C sends is
// checked (`TryFrom<i32>`, unknown values refused) before it becomes a Rust
// enum, never transmuted.

/// Cell kinds (`Awss3Cell::kind`, `Awss3Column::kind`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3CellKind {
    AWSS3_CELL_NULL = 0,
    /// The body has no such field: store the column's default.
    AWSS3_CELL_DEFAULT = 1,
    AWSS3_CELL_INT = 2,
    AWSS3_CELL_UINT = 3,
    AWSS3_CELL_DOUBLE = 4,
    AWSS3_CELL_FLOAT = 5,
    /// Decimal number as text.
    AWSS3_CELL_NUMBER = 6,
    /// UTF-8 text.
    AWSS3_CELL_TEXT = 7,
    /// Date/time text.
    AWSS3_CELL_TEMPORAL = 8,
    AWSS3_CELL_BYTES = 9,
}

/// Column roles (`Awss3Column::role`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3Role {
    AWSS3_ROLE_KEY = 0,
    AWSS3_ROLE_VALUE = 1,
    AWSS3_ROLE_ATTR = 2,
    AWSS3_ROLE_META = 3,
    /// A virtual generated column: never in the object.
    AWSS3_ROLE_COMPUTED = 4,
}

/// S3 attributes (`Awss3Column::attr`, same order as S3_ATTR's values).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3Attr {
    AWSS3_ATTR_SIZE = 0,
    AWSS3_ATTR_LAST_MODIFIED = 1,
    AWSS3_ATTR_ETAG = 2,
    AWSS3_ATTR_CONTENT_TYPE = 3,
}

/// Body formats (`Awss3TableDef::format`, same order as FORMAT=).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3Format {
    AWSS3_FORMAT_AUTO = 0,
    AWSS3_FORMAT_RAW = 1,
    AWSS3_FORMAT_JSON = 2,
}

/// Bound kinds of `awss3_scan_start` and `awss3_last_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3Bound {
    AWSS3_BOUND_NONE = 0,
    AWSS3_BOUND_INCLUSIVE = 1,
    AWSS3_BOUND_EXCLUSIVE = 2,
}

/// What `awss3_read_key` reads by: a key of the statement's (a lookup), or a
/// position this statement's own read returned (`rnd_pos`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum Awss3ReadBy {
    AWSS3_READ_LOOKUP = 0,
    AWSS3_READ_POSITION = 1,
}

/// `TryFrom<i32>` for a boundary enum: the value, or the unknown number.
macro_rules! checked_from_i32 {
    ($name:ident: $($v:ident),+) => {
        impl TryFrom<i32> for $name {
            type Error = i32;
            fn try_from(n: i32) -> Result<Self, i32> {
                $(if n == $name::$v as i32 {
                    return Ok($name::$v);
                })+
                Err(n)
            }
        }
    };
}
checked_from_i32!(Awss3CellKind: AWSS3_CELL_NULL, AWSS3_CELL_DEFAULT, AWSS3_CELL_INT,
    AWSS3_CELL_UINT, AWSS3_CELL_DOUBLE, AWSS3_CELL_FLOAT, AWSS3_CELL_NUMBER, AWSS3_CELL_TEXT,
    AWSS3_CELL_TEMPORAL, AWSS3_CELL_BYTES);
checked_from_i32!(Awss3Role: AWSS3_ROLE_KEY, AWSS3_ROLE_VALUE, AWSS3_ROLE_ATTR, AWSS3_ROLE_META,
    AWSS3_ROLE_COMPUTED);
checked_from_i32!(Awss3Attr: AWSS3_ATTR_SIZE, AWSS3_ATTR_LAST_MODIFIED, AWSS3_ATTR_ETAG,
    AWSS3_ATTR_CONTENT_TYPE);
checked_from_i32!(Awss3Format: AWSS3_FORMAT_AUTO, AWSS3_FORMAT_RAW, AWSS3_FORMAT_JSON);
checked_from_i32!(Awss3Bound: AWSS3_BOUND_NONE, AWSS3_BOUND_INCLUSIVE, AWSS3_BOUND_EXCLUSIVE);
checked_from_i32!(Awss3ReadBy: AWSS3_READ_LOOKUP, AWSS3_READ_POSITION);

use Awss3Attr::*;
use Awss3Bound::*;
use Awss3CellKind::*;
use Awss3Format::*;
use Awss3Role::*;

/// The server's `HA_ERR_*` codes the core returns (my_base.h): exported so
/// that the shim `static_assert`s each against the server's own header.
pub const AWSS3_HA_ERR_KEY_NOT_FOUND: i32 = 120;
pub const AWSS3_HA_ERR_FOUND_DUPP_KEY: i32 = 121;
pub const AWSS3_HA_ERR_RECORD_CHANGED: i32 = 123;
pub const AWSS3_HA_ERR_END_OF_FILE: i32 = 137;
pub const AWSS3_HA_ERR_RECORD_IS_THE_SAME: i32 = 169;
pub const AWSS3_HA_ERR_TABLE_READONLY: i32 = 165;
pub const AWSS3_HA_ERR_ABORTED_BY_USER: i32 = 188;

/// Error codes beyond `HA_ERR_*` (see `awss3_last_error`).
pub const AWSS3_ERROR_ENGINE: i32 = 4001;
/// ER_DUP_ENTRY for the key in `awss3_last_error` (a multi-row INSERT finds
/// duplicates after the row was handed over).
pub const AWSS3_ERROR_DUP_KEY_DEFERRED: i32 = 4002;
/// Not finished within the wait given: call again (check KILL in between).
pub const AWSS3_ERROR_PENDING: i32 = -1;

/// Longest object key S3 stores (the shim's position buffer holds one).
pub const AWSS3_MAX_KEY_BYTES: usize = 1024;

/// One column value crossing the boundary. `data`/`len` hold text and bytes;
/// cells returned by the core stay valid until the next call on the table.
#[repr(C)]
pub struct Awss3Cell {
    pub kind: i32,
    pub int_value: i64,
    pub real_value: f64,
    pub data: *const u8,
    pub len: usize,
}

#[repr(C)]
pub struct Awss3Column {
    pub name: *const c_char,
    pub name_len: usize,
    pub role: i32,
    pub attr: i32,
    /// S3_META name.
    pub meta: *const c_char,
    pub meta_len: usize,
    pub kind: i32,
    pub nullable: bool,
    /// The most bytes a value's text can take (0: unknown); the core bounds
    /// the bodies it reads with it.
    pub max_bytes: u64,
}

/// A CREATE SERVER's row, as the server keeps it (mysql.servers). The shim
/// passes it when a table's CONNECTION names a server that exists.
#[repr(C)]
pub struct Awss3Server {
    pub name: *const c_char,
    pub name_len: usize,
    /// FOREIGN DATA WRAPPER (must be awss3).
    pub wrapper: *const c_char,
    pub wrapper_len: usize,
    /// HOST: the endpoint URL (empty: AWS S3).
    pub host: *const c_char,
    pub host_len: usize,
    /// DATABASE: the bucket.
    pub database: *const c_char,
    pub database_len: usize,
    /// USER: the access key id.
    pub user: *const c_char,
    pub user_len: usize,
    /// PASSWORD: the secret access key.
    pub password: *const c_char,
    pub password_len: usize,
    /// SOCKET: the region.
    pub socket: *const c_char,
    pub socket_len: usize,
    pub port: i64,
}

#[repr(C)]
pub struct Awss3TableDef {
    pub path: *const c_char,
    pub path_len: usize,
    pub db: *const c_char,
    pub db_len: usize,
    pub name: *const c_char,
    pub name_len: usize,
    pub connection: *const c_char,
    pub connection_len: usize,
    pub format: i32,
    pub read_only: bool,
    pub key_pad_space: bool,
    pub columns: *const Awss3Column,
    pub ncolumns: usize,
    /// The server CONNECTION names, or null.
    pub server: *const Awss3Server,
    /// At CREATE only (else null / 0): the server's definition image and its
    /// version id, which the shared catalogue (`awss3_discovery`) holds.
    pub frm: *const u8,
    pub frm_len: usize,
    pub version: *const u8,
    pub version_len: usize,
}

/// The `Awss3_*` status variables.
#[repr(C)]
pub struct Awss3Counters {
    pub get_requests: u64,
    pub head_requests: u64,
    pub put_requests: u64,
    pub list_requests: u64,
    pub delete_requests: u64,
    pub retries: u64,
    pub errors: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Requests moved to the next endpoint of a location (connection failures, timeouts).
    pub endpoint_failovers: u64,
    /// Rows a scan took from the row cache (no request).
    pub row_cache_hits: u64,
    /// Rows a scan that may use the row cache had to GET.
    pub row_cache_misses: u64,
    /// Bytes the row cache holds now (never above awss3_row_cache_size).
    pub row_cache_bytes: u64,
    /// Rows the row cache holds now.
    pub row_cache_rows: u64,
    /// Requests the store throttled (503 SlowDown, 429) or dropped, retried:
    /// each one halves the windows of the statements running.
    pub throttled: u64,
    /// Requests the last scan, batched read or multi-row write kept in
    /// flight when it last sized its window (`window::Gate`).
    pub window: u64,
}

/// An open table (opaque).
pub struct Awss3Table {
    table: Table,
    cells: Vec<Awss3Cell>,
    /// Backs text handed out (location, warnings) until the next call.
    text_out: Vec<u8>,
    /// The table's name as the server gives it (for notes).
    db: String,
    name: String,
    /// What the handler tells the optimizer, its progress, its lookups.
    stats: stats::TableStats,
    progress: progress::Progress,
    lookups: lookups::Lookups,
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_error(msg: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// What an exported function returns when its body panicked: a code the
/// shim maps to an error, false, nothing, or null (as rustls-ffi's
/// `ffi_panic_boundary!` does per return type).
trait PanicValue {
    fn on_panic() -> Self;
}

impl PanicValue for i32 {
    fn on_panic() -> i32 {
        AWSS3_ERR_ENGINE
    }
}

impl PanicValue for bool {
    fn on_panic() -> bool {
        false
    }
}

impl PanicValue for () {
    fn on_panic() {}
}

impl PanicValue for u64 {
    fn on_panic() -> u64 {
        0
    }
}

impl PanicValue for f64 {
    fn on_panic() -> f64 {
        0.0
    }
}

impl<T> PanicValue for *mut T {
    fn on_panic() -> *mut T {
        std::ptr::null_mut()
    }
}

/// The one panic boundary: every exported function's body runs in it; a
/// panic becomes the return type's failure value and the last error.
fn boundary<T: PanicValue, F: FnOnce() -> T>(f: F) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            set_error(format!("AWSS3 internal error (please report): {what}"));
            T::on_panic()
        }
    }
}

const HA_ERR_KEY_NOT_FOUND: i32 = AWSS3_HA_ERR_KEY_NOT_FOUND;
const HA_ERR_END_OF_FILE: i32 = AWSS3_HA_ERR_END_OF_FILE;
/// Engine failure described by `awss3_last_error` (outside the HA_ERR range).
const AWSS3_ERR_ENGINE: i32 = AWSS3_ERROR_ENGINE;
/// Not an error: the call did not finish within its wait; call again (the
/// shim checks for KILL in between).
const AWSS3_PENDING: i32 = AWSS3_ERROR_PENDING;

/// The code the shim returns for an error of the core: the server's
/// `HA_ERR_*` where it has one, else one of the engine's own codes.
fn code(e: &Error) -> i32 {
    match e {
        Error::DupKey => AWSS3_HA_ERR_FOUND_DUPP_KEY,
        // The message is the key value (its row was handed over earlier).
        Error::DupKeyDeferred(_) => AWSS3_ERROR_DUP_KEY_DEFERRED,
        Error::RecordChanged => AWSS3_HA_ERR_RECORD_CHANGED,
        Error::NotFound => AWSS3_HA_ERR_KEY_NOT_FOUND,
        Error::ReadOnly => AWSS3_HA_ERR_TABLE_READONLY,
        Error::Killed => AWSS3_HA_ERR_ABORTED_BY_USER,
        Error::Engine(_) => AWSS3_ERROR_ENGINE,
    }
}

/// `boundary` for the functions that return a code: an error becomes its
/// `HA_ERR_*` / engine code, its message kept for `awss3_last_error`.
fn guard<F: FnOnce() -> Result<i32, Error>>(f: F) -> i32 {
    boundary(|| match f() {
        Ok(code) => code,
        Err(e) => {
            set_error(e.to_string());
            code(&e)
        }
    })
}

/// # Safety
/// `p` must point to `len` readable bytes (or be null with `len == 0`).
unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    }
}

unsafe fn text(p: *const c_char, len: usize) -> Result<String, Error> {
    String::from_utf8(bytes(p as *const u8, len).to_vec())
        .map_err(|_| Error::Engine("a name or option is not valid UTF-8".into()))
}

fn cell_kind(k: i32) -> Result<CellKind, Error> {
    let kind =
        Awss3CellKind::try_from(k).map_err(|k| Error::Engine(format!("bad column kind {k}")))?;
    Ok(match kind {
        AWSS3_CELL_INT => CellKind::Int,
        AWSS3_CELL_UINT => CellKind::UInt,
        AWSS3_CELL_DOUBLE => CellKind::Double,
        AWSS3_CELL_FLOAT => CellKind::Float,
        AWSS3_CELL_NUMBER => CellKind::Number,
        AWSS3_CELL_TEXT => CellKind::Text,
        AWSS3_CELL_TEMPORAL => CellKind::Temporal,
        AWSS3_CELL_BYTES => CellKind::Bytes,
        AWSS3_CELL_NULL | AWSS3_CELL_DEFAULT => {
            return Err(Error::Engine(format!("bad column kind {k}")))
        }
    })
}

unsafe fn table_def(d: *const Awss3TableDef) -> Result<TableDef, Error> {
    let d = d
        .as_ref()
        .ok_or_else(|| Error::Engine("no table definition".into()))?;
    let cols: &[Awss3Column] = if d.columns.is_null() || d.ncolumns == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(d.columns, d.ncolumns)
    };
    let mut columns = Vec::with_capacity(cols.len());
    let mut value_max = Vec::with_capacity(cols.len());
    for c in cols {
        // Unknown numbers are refused, never taken for some default: a
        // shim built from another header must not silently misread columns.
        let role = Awss3Role::try_from(c.role)
            .map_err(|r| Error::Engine(format!("unknown column role {r}")))?;
        let role = match role {
            AWSS3_ROLE_KEY => Role::Key,
            AWSS3_ROLE_VALUE => Role::Value,
            AWSS3_ROLE_ATTR => Role::Attr(
                match Awss3Attr::try_from(c.attr)
                    .map_err(|a| Error::Engine(format!("unknown attribute kind {a}")))?
                {
                    AWSS3_ATTR_SIZE => Attr::Size,
                    AWSS3_ATTR_LAST_MODIFIED => Attr::LastModified,
                    AWSS3_ATTR_ETAG => Attr::Etag,
                    AWSS3_ATTR_CONTENT_TYPE => Attr::ContentType,
                },
            ),
            AWSS3_ROLE_META => Role::Meta(text(c.meta, c.meta_len)?.to_ascii_lowercase()),
            AWSS3_ROLE_COMPUTED => Role::Computed,
        };
        if role == Role::Value {
            value_max.push((columns.len(), c.max_bytes));
        }
        columns.push(Column {
            name: text(c.name, c.name_len)?,
            role,
            kind: cell_kind(c.kind)?,
            nullable: c.nullable,
        });
    }
    let format = match Awss3Format::try_from(d.format)
        .map_err(|f| Error::Engine(format!("unknown body format {f}")))?
    {
        AWSS3_FORMAT_AUTO => None,
        AWSS3_FORMAT_RAW => Some(Format::Raw),
        AWSS3_FORMAT_JSON => Some(Format::Json),
    };
    let values: Vec<(&str, u64)> = value_max
        .iter()
        .map(|&(i, max)| (columns[i].name.as_str(), max))
        .collect();
    let max_body = format
        .unwrap_or_else(|| Format::default_for(&columns))
        .max_body(&values);
    Ok(TableDef {
        path: text(d.path, d.path_len)?,
        db: text(d.db, d.db_len)?,
        name: text(d.name, d.name_len)?,
        connection: text(d.connection, d.connection_len)?,
        format,
        read_only: d.read_only,
        key_pad_space: d.key_pad_space,
        columns,
        max_body,
        frm: bytes(d.frm, d.frm_len).to_vec(),
        version: bytes(d.version, d.version_len).to_vec(),
        server: match d.server.as_ref() {
            None => None,
            Some(sv) => Some(Server {
                name: text(sv.name, sv.name_len)?,
                wrapper: text(sv.wrapper, sv.wrapper_len)?,
                endpoint: text(sv.host, sv.host_len)?,
                bucket: text(sv.database, sv.database_len)?,
                region: text(sv.socket, sv.socket_len)?,
                access_key_id: text(sv.user, sv.user_len)?,
                secret_access_key: text(sv.password, sv.password_len)?,
                port: sv.port,
            }),
        },
    })
}

unsafe fn values_in(cells: *const Awss3Cell, n: usize) -> Result<Vec<Value>, Error> {
    let cells: &[Awss3Cell] = if cells.is_null() || n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(cells, n)
    };
    cells
        .iter()
        .map(|c| {
            let b = bytes(c.data, c.len);
            let s = || {
                String::from_utf8(b.to_vec())
                    .map_err(|_| Error::Engine("a text value is not valid UTF-8".into()))
            };
            let kind = Awss3CellKind::try_from(c.kind)
                .map_err(|k| Error::Engine(format!("unknown cell kind {k}")))?;
            Ok(match kind {
                AWSS3_CELL_INT => Value::Int(c.int_value),
                AWSS3_CELL_UINT => Value::UInt(c.int_value as u64),
                AWSS3_CELL_DOUBLE => Value::Double(c.real_value),
                AWSS3_CELL_FLOAT => Value::Float(c.real_value as f32),
                AWSS3_CELL_NUMBER => Value::Number(s()?),
                AWSS3_CELL_TEXT => Value::Text(s()?),
                AWSS3_CELL_TEMPORAL => Value::Temporal(s()?),
                AWSS3_CELL_BYTES => Value::Bytes(b.to_vec()),
                AWSS3_CELL_NULL | AWSS3_CELL_DEFAULT => Value::Null,
            })
        })
        .collect()
}

fn cell_out(v: &Value) -> Awss3Cell {
    let mut c = Awss3Cell {
        kind: AWSS3_CELL_NULL as i32,
        int_value: 0,
        real_value: 0.0,
        data: std::ptr::null(),
        len: 0,
    };
    let mut data = |kind: Awss3CellKind, b: &[u8]| {
        c.kind = kind as i32;
        c.data = b.as_ptr();
        c.len = b.len();
    };
    match v {
        Value::Null => {}
        Value::Default => c.kind = AWSS3_CELL_DEFAULT as i32,
        Value::Int(i) => {
            c.kind = AWSS3_CELL_INT as i32;
            c.int_value = *i;
        }
        Value::UInt(u) => {
            c.kind = AWSS3_CELL_UINT as i32;
            c.int_value = *u as i64;
        }
        Value::Double(d) => {
            c.kind = AWSS3_CELL_DOUBLE as i32;
            c.real_value = *d;
        }
        Value::Float(f) => {
            c.kind = AWSS3_CELL_FLOAT as i32;
            c.real_value = *f as f64;
        }
        Value::Number(s) => data(AWSS3_CELL_NUMBER, s.as_bytes()),
        Value::Text(s) => data(AWSS3_CELL_TEXT, s.as_bytes()),
        Value::Temporal(s) => data(AWSS3_CELL_TEMPORAL, s.as_bytes()),
        Value::Bytes(b) => data(AWSS3_CELL_BYTES, b),
    }
    c
}

impl Awss3Table {
    /// Publishes `table.row` as cells.
    unsafe fn emit(&mut self, cells: *mut *const Awss3Cell, n: *mut usize) {
        self.cells = self.table.row.iter().map(cell_out).collect();
        if !cells.is_null() {
            *cells = self.cells.as_ptr();
        }
        if !n.is_null() {
            *n = self.cells.len();
        }
    }
}

unsafe fn table_mut<'a>(t: *mut Awss3Table) -> Result<&'a mut Awss3Table, Error> {
    t.as_mut()
        .ok_or_else(|| Error::Engine("no table handle".into()))
}

unsafe fn needed(p: *const bool, n: usize) -> Vec<bool> {
    if p.is_null() || n == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(p, n).to_vec()
    }
}

/// Starts the plugin's I/O runtime (plugin init).
#[no_mangle]
pub extern "C" fn awss3_init() -> i32 {
    guard(|| runtime::start().map(|_| 0).map_err(Error::Engine))
}

/// Stops the runtime: joins its threads, closes its sockets (plugin deinit).
#[no_mangle]
pub extern "C" fn awss3_shutdown() {
    guard(|| {
        runtime::stop();
        rowcache::CACHE.clear();
        window::forget_all();
        Ok(0)
    });
}

/// Every server-wide setting (the `awss3_*` global variables), handed over
/// whole at plugin start and whenever one is SET. The secrets live in the
/// core alone (the variables show a mask): null leaves the current one.
#[repr(C)]
pub struct Awss3Settings {
    pub endpoint: *const c_char,
    pub endpoint_len: usize,
    pub region: *const c_char,
    pub region_len: usize,
    pub bucket: *const c_char,
    pub bucket_len: usize,
    pub access_key_id: *const c_char,
    pub access_key_id_len: usize,
    /// Null: unchanged.
    pub secret_access_key: *const c_char,
    pub secret_access_key_len: usize,
    /// Null: unchanged.
    pub session_token: *const c_char,
    pub session_token_len: usize,
    pub prefetch_window: u64,
    pub max_retries: u64,
    /// Seconds.
    pub request_timeout: u64,
    pub skip_malformed: bool,
    pub discovery: bool,
    /// Seconds (0: every statement checks).
    pub definition_check_interval: u64,
    pub last_writer_wins: bool,
    /// Null: unchanged.
    pub catalog_key: *const c_char,
    pub catalog_key_len: usize,
    /// Bytes of rows the row cache may hold (0: off).
    pub row_cache_size: u64,
    /// Bytes one scan's fetched bodies may hold.
    pub scan_memory: u64,
}

/// Replaces the server-wide settings.
///
/// # Safety
/// `s` valid; its buffers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn awss3_settings_set(s: *const Awss3Settings) -> i32 {
    guard(|| {
        let s = s
            .as_ref()
            .ok_or_else(|| Error::Engine("no settings".into()))?;
        let secret = if s.secret_access_key.is_null() {
            None
        } else {
            Some(text(s.secret_access_key, s.secret_access_key_len)?)
        };
        let token = if s.session_token.is_null() {
            None
        } else {
            Some(text(s.session_token, s.session_token_len)?)
        };
        let catalog_key = if s.catalog_key.is_null() {
            None
        } else {
            Some(text(s.catalog_key, s.catalog_key_len)?)
        };
        let endpoint = text(s.endpoint, s.endpoint_len)?;
        let region = text(s.region, s.region_len)?;
        let bucket = text(s.bucket, s.bucket_len)?;
        let key_id = text(s.access_key_id, s.access_key_id_len)?;
        settings::update(|cur| {
            cur.endpoint = endpoint;
            cur.region = region;
            cur.bucket = bucket;
            cur.access_key_id = key_id;
            if let Some(v) = secret {
                cur.secret_access_key = v;
            }
            if let Some(v) = token {
                cur.session_token = v;
            }
            if let Some(v) = catalog_key {
                cur.catalog_key = v;
            }
            cur.prefetch_window = usize::try_from(s.prefetch_window).unwrap_or(usize::MAX);
            cur.scan_memory = s.scan_memory.max(1);
            cur.max_retries = u32::try_from(s.max_retries).unwrap_or(u32::MAX);
            cur.request_timeout = Duration::from_secs(s.request_timeout);
            cur.skip_malformed = s.skip_malformed;
            cur.discovery = s.discovery;
            cur.last_writer_wins = s.last_writer_wins;
            cur.definition_check_interval = Duration::from_secs(s.definition_check_interval);
        });
        rowcache::CACHE.set_capacity(s.row_cache_size);
        Ok(0)
    })
}

/// # Safety
/// `out` must point to an `Awss3Counters`.
#[no_mangle]
pub unsafe extern "C" fn awss3_counters_get(out: *mut Awss3Counters) {
    guard(|| {
        if let Some(o) = out.as_mut() {
            let [g, h, p, l, d, r, e, br, bs, fo] = metrics::snapshot();
            let rc = rowcache::CACHE.stats();
            *o = Awss3Counters {
                get_requests: g,
                head_requests: h,
                put_requests: p,
                list_requests: l,
                delete_requests: d,
                retries: r,
                errors: e,
                bytes_received: br,
                bytes_sent: bs,
                endpoint_failovers: fo,
                row_cache_hits: rc.hits,
                row_cache_misses: rc.misses,
                row_cache_bytes: rc.bytes,
                row_cache_rows: rc.rows,
                throttled: metrics::throttled_so_far(),
                window: metrics::window(),
            };
        }
        Ok(0)
    });
}

/// The message of this thread's last failed call (valid until the next call).
///
/// # Safety
/// Out-params must be valid pointers.
#[no_mangle]
pub unsafe extern "C" fn awss3_last_error(msg: *mut *const c_char, len: *mut usize) {
    boundary(|| {
        LAST_ERROR.with(|e| {
            let e = e.borrow();
            if !msg.is_null() {
                *msg = e.as_ptr() as *const c_char;
            }
            if !len.is_null() {
                *len = e.len();
            }
        })
    })
}

/// What a create is for, from the server's own flags (never from names).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awss3CreateKind {
    /// CREATE TABLE (also CREATE TABLE ... SELECT / LIKE).
    AWSS3_CREATE_TABLE = 0,
    /// ALTER TABLE's copy of a table of another engine (`HA_CREATE_TMP_ALTER`,
    /// e.g. ALTER TABLE ... ENGINE=AWSS3 from InnoDB).
    AWSS3_CREATE_ALTER_COPY = 1,
    /// ALTER TABLE's copy of an AWSS3 table into AWSS3 (`HA_CREATE_TMP_ALTER`
    /// with an AWSS3 source: ALGORITHM=COPY, ORDER BY, ...).
    AWSS3_CREATE_ALTER_SELF_COPY = 2,
    /// CREATE TEMPORARY TABLE (`HA_LEX_CREATE_TMP_TABLE`).
    AWSS3_CREATE_TEMPORARY = 3,
}

thread_local! {
    static LAST_NOTE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// How the core asks whether the statement it works for was killed: the
/// shim's `probe(arg)` (it calls `thd_killed`). Called only on the thread that
/// made the call, while it waits on S3.
pub type Awss3KilledProbe = Option<extern "C" fn(arg: *const c_void) -> bool>;

/// Progress of a long operation (TRUNCATE, a count): called on the
/// statement's own thread while it waits, with the same `arg` as the probe.
pub type Awss3ProgressReport = Option<extern "C" fn(arg: *const c_void, done: u64, total: u64)>;

/// CREATE TABLE: checks the definition and the location; picks and records
/// an engine-chosen location next to the .frm. `note`/`note_len` receive a
/// note for the user (empty if none), valid until this thread's next call.
///
/// # Safety
/// `def` and everything it points to must be valid; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_create(
    def: *const Awss3TableDef,
    kind: Awss3CreateKind,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
    note: *mut *const c_char,
    note_len: *mut usize,
) -> i32 {
    guard(|| {
        let kind = match kind {
            Awss3CreateKind::AWSS3_CREATE_TABLE => ddl::CreateKind::Table,
            Awss3CreateKind::AWSS3_CREATE_ALTER_COPY => ddl::CreateKind::AlterCopy,
            Awss3CreateKind::AWSS3_CREATE_ALTER_SELF_COPY => ddl::CreateKind::AlterSelfCopy,
            Awss3CreateKind::AWSS3_CREATE_TEMPORARY => ddl::CreateKind::Temporary,
        };
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let said = ddl::create(&table_def(def)?, kind, stop)?.unwrap_or_default();
        LAST_NOTE.with(|n| {
            let mut n = n.borrow_mut();
            *n = said;
            if !note.is_null() && !note_len.is_null() {
                *note = n.as_ptr() as *const c_char;
                *note_len = n.len();
            }
        });
        Ok(0)
    })
}

/// Where a column of an ALTER TABLE's new definition comes from.
#[repr(C)]
pub struct Awss3AlterColumn {
    /// Index of the old column; -1 for an added column.
    pub old_index: i64,
    /// Every value of the old column reads back unchanged from its stored
    /// form as a value of the new one (the shim decides from the types).
    pub values_kept: bool,
    /// The new column's default is an expression (NOW(), UUID(), ...).
    pub default_is_expression: bool,
}

unsafe fn origins(cols: *const Awss3AlterColumn, ncols: usize) -> Vec<alter::ColumnOrigin> {
    let cols: &[Awss3AlterColumn] = if cols.is_null() || ncols == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(cols, ncols)
    };
    cols.iter()
        .map(|c| alter::ColumnOrigin {
            old: usize::try_from(c.old_index).ok(),
            values_kept: c.values_kept,
            default_is_expression: c.default_is_expression,
        })
        .collect()
}

/// ALTER TABLE: 0 when the change from `old` to `new` is made in place
/// without touching an object; otherwise `AWSS3_ERROR_ENGINE` with the reason
/// and what to do instead. `cols` has one entry per column of `new`. Nothing
/// is written: `awss3_alter_commit` records the change once the server has.
///
/// # Safety
/// Definitions valid; `cols` has `ncols` entries.
#[no_mangle]
pub unsafe extern "C" fn awss3_alter_check(
    old: *const Awss3TableDef,
    new: *const Awss3TableDef,
    cols: *const Awss3AlterColumn,
    ncols: usize,
) -> i32 {
    guard(|| {
        ddl::alter_check(&table_def(old)?, &table_def(new)?, &origins(cols, ncols))?;
        Ok(0)
    })
}

/// ALTER TABLE made in place is being committed: records what the table must
/// remember (the JSON fields of dropped columns), next to the .frm of `old`.
///
/// # Safety
/// As `awss3_alter_check`.
#[no_mangle]
pub unsafe extern "C" fn awss3_alter_commit(
    old: *const Awss3TableDef,
    new: *const Awss3TableDef,
    cols: *const Awss3AlterColumn,
    ncols: usize,
) -> i32 {
    guard(|| {
        ddl::alter_commit(&table_def(old)?, &table_def(new)?, &origins(cols, ncols))?;
        Ok(0)
    })
}

/// A table's name as the server knows it (not its file name).
#[repr(C)]
pub struct Awss3TableName {
    pub db: *const c_char,
    pub db_len: usize,
    pub table: *const c_char,
    pub table_len: usize,
}

unsafe fn table_name(n: *const Awss3TableName) -> Result<catalog::Name, Error> {
    let n = n
        .as_ref()
        .ok_or_else(|| Error::Engine("no table name".into()))?;
    Ok(catalog::Name {
        db: text(n.db, n.db_len)?,
        table: text(n.table, n.table_len)?,
    })
}

/// DROP TABLE at `path`: deletes the objects the table owns and, with
/// discovery, withdraws it from the catalogue. `frm_present`: the server has
/// the table's .frm (else only the catalogue may know it, and
/// `HA_ERR_KEY_NOT_FOUND` says nobody does).
///
/// # Safety
/// Buffers must be valid for their lengths; `name` valid.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_drop(
    path: *const c_char,
    path_len: usize,
    name: *const Awss3TableName,
    frm_present: bool,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        ddl::drop_table(
            &text(path, path_len)?,
            &table_name(name)?,
            frm_present,
            stop,
        )?;
        Ok(0)
    })
}

/// RENAME TABLE from `from` to `to` (paths; `names`: the same as the server
/// names them): moves the location file, sending no object request. With
/// discovery the catalogue entry moves too: `in_place` says the rename puts
/// a table in its place (RENAME TABLE, ALTER ... RENAME, ALTER's copy), not
/// one of ALTER's internal renames; `frm`/`version` is this server's
/// definition (null: it has none, the table is known from the catalogue).
/// `HA_ERR_KEY_NOT_FOUND`: no such table here or in the catalogue.
///
/// # Safety
/// Buffers must be valid for their lengths; names valid.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_rename(
    from: *const c_char,
    from_len: usize,
    to: *const c_char,
    to_len: usize,
    from_name: *const Awss3TableName,
    to_name: *const Awss3TableName,
    in_place: bool,
    frm: *const u8,
    frm_len: usize,
    version: *const u8,
    version_len: usize,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let names = (table_name(from_name)?, table_name(to_name)?);
        let local = (!frm.is_null()).then(|| (bytes(version, version_len), bytes(frm, frm_len)));
        ddl::rename_table(
            &text(from, from_len)?,
            &text(to, to_len)?,
            &names,
            in_place,
            local,
            stop,
        )?;
        Ok(0)
    })
}

thread_local! {
    static DISCOVERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Table discovery: the definition image the catalogue holds for `name`
/// (valid until this thread's next call), its location file written at
/// `path`; `HA_ERR_KEY_NOT_FOUND` when the catalogue has no such table (or
/// discovery is off).
///
/// # Safety
/// Buffers valid for their lengths; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_catalog_discover(
    name: *const Awss3TableName,
    path: *const c_char,
    path_len: usize,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
    frm: *mut *const u8,
    frm_len: *mut usize,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let Some(image) =
            catalog::catalog_discover(&table_name(name)?, &text(path, path_len)?, stop)?
        else {
            return Ok(HA_ERR_KEY_NOT_FOUND);
        };
        DISCOVERED.with(|d| {
            let mut d = d.borrow_mut();
            *d = image;
            if !frm.is_null() && !frm_len.is_null() {
                *frm = d.as_ptr();
                *frm_len = d.len();
            }
        });
        Ok(0)
    })
}

/// Whether the catalogue has the table (`out`).
///
/// # Safety
/// `name` valid; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_catalog_exists(
    name: *const Awss3TableName,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
    out: *mut bool,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let found = catalog::catalog_exists(&table_name(name)?, stop)?;
        if let Some(o) = out.as_mut() {
            *o = found;
        }
        Ok(0)
    })
}

/// Called once per name `awss3_catalog_names` finds: `shared_here` false
/// for a table the catalogue has (its name), true for a table of this server
/// that was in the catalogue (its file name in the database directory).
pub type Awss3NameSink =
    Option<extern "C" fn(arg: *mut c_void, shared_here: bool, name: *const c_char, len: usize)>;

/// The tables the catalogue has in database `db`, and this server's tables
/// in `db_dir` that were in it, each handed to `each`.
///
/// # Safety
/// Buffers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn awss3_catalog_names(
    db: *const c_char,
    db_len: usize,
    db_dir: *const c_char,
    db_dir_len: usize,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
    each: Awss3NameSink,
    each_arg: *mut c_void,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let (names, here) =
            catalog::catalog_names(&text(db, db_len)?, &text(db_dir, db_dir_len)?, stop)?;
        if let Some(f) = each {
            for n in &names {
                f(each_arg, false, n.as_ptr() as *const c_char, n.len());
            }
            for n in &here {
                f(each_arg, true, n.as_ptr() as *const c_char, n.len());
            }
        }
        Ok(0)
    })
}

/// A byte string the shim hands over (a name).
#[repr(C)]
pub struct Awss3Bytes {
    pub data: *const u8,
    pub len: usize,
}

unsafe fn byte_list<'a>(p: *const Awss3Bytes, n: usize) -> Vec<&'a [u8]> {
    if p.is_null() || n == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(p, n)
        .iter()
        .map(|b| bytes(b.data, b.len))
        .collect()
}

/// What SHOW TABLES lists for a database with discovery (see
/// `discovery.rs`): given the server's list `listed`, the catalogue's names
/// `shared` and this server's shared tables `here` (from
/// `awss3_catalog_names`, as table names), the indexes into `shared` of the
/// names to add (`add`, room for `nshared`) and the ascending indexes into
/// `listed` of the names to remove (`drop`, room for `nlisted`).
/// `dropping_db`: the list is for DROP DATABASE.
///
/// # Safety
/// Arrays valid for their counts; out-params writable with the room said.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn awss3_discovery_changes(
    listed: *const Awss3Bytes,
    nlisted: usize,
    shared: *const Awss3Bytes,
    nshared: usize,
    here: *const Awss3Bytes,
    nhere: usize,
    dropping_db: bool,
    add: *mut usize,
    nadd: *mut usize,
    drop: *mut usize,
    ndrop: *mut usize,
) -> i32 {
    guard(|| {
        let c = discovery::changes(
            &byte_list(listed, nlisted),
            &byte_list(shared, nshared),
            &byte_list(here, nhere),
            dropping_db,
        );
        let out = |v: &[usize], p: *mut usize, n: *mut usize| {
            if !p.is_null() && !n.is_null() {
                std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
                *n = v.len();
            }
        };
        out(&c.add, add, nadd);
        out(&c.drop, drop, ndrop);
        Ok(0)
    })
}

/// What the check of a table's definition against the catalogue found.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awss3Definition {
    /// Current (or the catalogue could not be asked).
    AWSS3_DEFINITION_SAME = 0,
    /// Changed or dropped by another server: discover it again.
    AWSS3_DEFINITION_CHANGED = 1,
    /// Not in the catalogue, never was: publish it (`awss3_catalog_publish`).
    AWSS3_DEFINITION_UNPUBLISHED = 2,
    /// The catalogue has another table of this name, which this server never
    /// knew: this server keeps its own.
    AWSS3_DEFINITION_CONFLICT = 3,
}

/// Checks this server's definition `version` of a table against the
/// catalogue (at most one HEAD per `awss3_definition_check_interval`).
///
/// # Safety
/// Buffers valid for their lengths; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_catalog_check(
    name: *const Awss3TableName,
    path: *const c_char,
    path_len: usize,
    version: *const u8,
    version_len: usize,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
    out: *mut Awss3Definition,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let check = catalog::catalog_check(
            &table_name(name)?,
            &text(path, path_len)?,
            bytes(version, version_len),
            stop,
        )?;
        if let Some(o) = out.as_mut() {
            *o = match check {
                catalog::Check::Same => Awss3Definition::AWSS3_DEFINITION_SAME,
                catalog::Check::Changed => Awss3Definition::AWSS3_DEFINITION_CHANGED,
                catalog::Check::Unpublished => Awss3Definition::AWSS3_DEFINITION_UNPUBLISHED,
                catalog::Check::Conflict => Awss3Definition::AWSS3_DEFINITION_CONFLICT,
            };
        }
        Ok(0)
    })
}

/// Publishes this server's definition of a table (image `frm`, id
/// `version`): one never published (`expect` null), or after an in-place
/// ALTER (`expect`: the version the ALTER started from, which the catalogue
/// must still hold, or the call fails saying another server changed it).
///
/// # Safety
/// Buffers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn awss3_catalog_publish(
    name: *const Awss3TableName,
    path: *const c_char,
    path_len: usize,
    version: *const u8,
    version_len: usize,
    frm: *const u8,
    frm_len: usize,
    expect: *const u8,
    expect_len: usize,
    killed: Awss3KilledProbe,
    killed_arg: *const c_void,
) -> i32 {
    guard(|| {
        let stop = runtime::Interrupt::new(killed, killed_arg);
        let expect = (!expect.is_null()).then(|| bytes(expect, expect_len));
        catalog::catalog_publish(
            &table_name(name)?,
            &text(path, path_len)?,
            bytes(version, version_len),
            bytes(frm, frm_len),
            expect,
            stop,
        )?;
        Ok(0)
    })
}

/// Opens a table; free it with `awss3_table_free`.
///
/// # Safety
/// `def` must be valid; `out` must point to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_new(
    def: *const Awss3TableDef,
    out: *mut *mut Awss3Table,
) -> i32 {
    guard(|| {
        let def = table_def(def)?;
        let (db, name) = (def.db.clone(), def.name.clone());
        let table = Table::open(def)?;
        let t = Box::new(Awss3Table {
            table,
            cells: Vec::new(),
            text_out: Vec::new(),
            db,
            name,
            stats: stats::TableStats::default(),
            progress: progress::Progress::default(),
            lookups: lookups::Lookups::default(),
        });
        match out.as_mut() {
            Some(o) => *o = Box::into_raw(t),
            None => return Err(Error::Engine("no out-param".into())),
        }
        Ok(0)
    })
}

/// # Safety
/// `t` must come from `awss3_table_new` (or be null) and not be used again.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_free(t: *mut Awss3Table) {
    guard(|| {
        if !t.is_null() {
            drop(Box::from_raw(t));
        }
        Ok(0)
    });
}

/// The statement now working on the table (at its start; `killed` null at
/// its end): waits on S3 for it end when `killed(killed_arg)` says so, long
/// operations report through `progress(killed_arg, done, total)`, and its
/// requests are charged to `budget` (null: no limit). The handler's progress
/// ownership (`awss3_progress_start`) never carries into a new statement.
///
/// # Safety
/// `t` valid; `killed_arg` valid for `killed` until the next call; `budget`
/// null or from `awss3_budget_new`.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_set_statement(
    t: *mut Awss3Table,
    killed: Awss3KilledProbe,
    progress: Awss3ProgressReport,
    killed_arg: *const c_void,
    budget: *const Awss3Budget,
) -> i32 {
    guard(|| {
        let h = table_mut(t)?;
        h.progress.disown();
        let t = &mut h.table;
        t.set_interrupt(runtime::Interrupt::new(killed, killed_arg).with_report(progress));
        t.set_budget(budget.as_ref().map(|b| b.0.clone()));
        Ok(0)
    })
}

/// The request budget of one statement (awss3_max_requests_per_statement),
/// shared by the tables it uses (opaque).
pub struct Awss3Budget(std::sync::Arc<crate::budget::Budget>);

/// A budget of `limit` requests (`limit` > 0).
#[no_mangle]
pub extern "C" fn awss3_budget_new(limit: u64) -> *mut Awss3Budget {
    boundary(|| {
        Box::into_raw(Box::new(Awss3Budget(std::sync::Arc::new(
            crate::budget::Budget::new(limit),
        ))))
    })
}

/// # Safety
/// `b` from `awss3_budget_new`, or null; not used afterwards. Tables that
/// still hold it keep their share until their next statement.
#[no_mangle]
pub unsafe extern "C" fn awss3_budget_free(b: *mut Awss3Budget) {
    boundary(|| {
        if !b.is_null() {
            drop(Box::from_raw(b));
        }
    })
}

/// The table's location as `s3://bucket/prefix` (for messages and SHOW).
///
/// # Safety
/// `t` valid; out-params writable. The text lives as long as the table.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_location(
    t: *mut Awss3Table,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        let t = table_mut(t)?;
        t.text_out = t.table.location().url().into_bytes();
        *out = t.text_out.as_ptr() as *const c_char;
        *out_len = t.text_out.len();
        Ok(0)
    })
}

/// The exact number of rows (one LIST pass).
///
/// # Safety
/// `t` must be a valid table; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_count(t: *mut Awss3Table, out: *mut u64) -> i32 {
    guard(|| {
        let n = table_mut(t)?.table.count()?;
        if let Some(o) = out.as_mut() {
            *o = n;
        }
        Ok(0)
    })
}

/// TRUNCATE / DELETE of all rows.
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_truncate(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.truncate()?;
        Ok(0)
    })
}

/// ALTER TABLE ... ENGINE=<other> starts copying the table out: with
/// discovery, the table is fenced first, so that no other server writes it
/// during the copy (one GET, one HEAD and one PUT, then a wait of about 3 s);
/// a table that is not shared sends nothing.
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_fence(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.fence_for_copy()?;
        Ok(0)
    })
}

/// The copy ended without the table being renamed away (the ALTER failed or
/// was killed): the fence, if any, is lifted.
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_lift_fence(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.lift_fence()?;
        Ok(0)
    })
}

unsafe fn bound(key: *const u8, len: usize, kind: i32) -> Result<Option<(Vec<u8>, bool)>, Error> {
    Ok(
        match Awss3Bound::try_from(kind)
            .map_err(|k| Error::Engine(format!("unknown bound kind {k}")))?
        {
            AWSS3_BOUND_NONE => None,
            AWSS3_BOUND_INCLUSIVE => Some((bytes(key, len).to_vec(), true)),
            AWSS3_BOUND_EXCLUSIVE => Some((bytes(key, len).to_vec(), false)),
        },
    )
}

/// What a scan does with an object that is not a row of the table.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awss3Malformed {
    /// As `awss3_skip_malformed` says: fail the statement, or skip with a warning.
    AWSS3_MALFORMED_AS_SET = 0,
    /// CHECK TABLE: a warning naming the object for each one, and go on.
    AWSS3_MALFORMED_REPORT = 1,
}

/// Starts a scan, in key order, of the rows whose keys lie between the
/// bounds (`AWSS3_BOUND_NONE`: unbounded), filling the columns flagged in
/// `needed`. `whole`: the statement reads it to the end (no LIMIT), so a
/// full scan whose cost exceeds the request budget is refused up front.
///
/// # Safety
/// `t` valid; `needed` has `n` entries; key buffers valid for their lengths.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn awss3_scan_start(
    t: *mut Awss3Table,
    needed_cols: *const bool,
    n: usize,
    lower: *const u8,
    lower_len: usize,
    lower_kind: i32,
    upper: *const u8,
    upper_len: usize,
    upper_kind: i32,
    malformed: Awss3Malformed,
    whole: bool,
) -> i32 {
    guard(|| {
        let range = keyrange::KeyRange {
            lower: bound(lower, lower_len, lower_kind)?,
            upper: bound(upper, upper_len, upper_kind)?,
        };
        let malformed = match malformed {
            Awss3Malformed::AWSS3_MALFORMED_AS_SET => None,
            Awss3Malformed::AWSS3_MALFORMED_REPORT => Some(table::Malformed::Report),
        };
        table_mut(t)?
            .table
            .scan_start(needed(needed_cols, n), &range, malformed, whole)?;
        Ok(0)
    })
}

/// The next row: 0 and cells, `HA_ERR_END_OF_FILE`, or `AWSS3_ERROR_PENDING`
/// when nothing arrived within the core's wait slice (short, so that the
/// shim can check for KILL between calls).
///
/// # Safety
/// `t` valid; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_scan_next(
    t: *mut Awss3Table,
    cells: *mut *const Awss3Cell,
    ncells: *mut usize,
) -> i32 {
    guard(|| {
        let t = table_mut(t)?;
        match t.table.scan_next(runtime::SLICE)? {
            None => Ok(AWSS3_PENDING),
            Some(false) => Ok(HA_ERR_END_OF_FILE),
            Some(true) => {
                t.emit(cells, ncells);
                Ok(0)
            }
        }
    })
}

/// The greatest key value up to `upper` (`AWSS3_BOUND_NONE`: of the whole
/// table), copied into `buf` (capacity `cap`); `HA_ERR_KEY_NOT_FOUND` if none.
///
/// # Safety
/// `t` valid; `upper` valid for `upper_len`; `buf` has `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn awss3_last_key(
    t: *mut Awss3Table,
    upper: *const u8,
    upper_len: usize,
    upper_kind: i32,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> i32 {
    guard(|| {
        let range = keyrange::KeyRange {
            lower: None,
            upper: bound(upper, upper_len, upper_kind)?,
        };
        match table_mut(t)?.table.last_in_range(&range)? {
            None => Ok(HA_ERR_KEY_NOT_FOUND),
            Some(k) if k.len() <= cap && !buf.is_null() && !len.is_null() => {
                std::ptr::copy_nonoverlapping(k.as_ptr(), buf, k.len());
                *len = k.len();
                Ok(0)
            }
            Some(_) => Err(Error::Engine("key buffer too small".into())),
        }
    })
}

/// Ends the scan; stops its requests.
///
/// # Safety
/// `t` must be a valid table or null.
#[no_mangle]
pub unsafe extern "C" fn awss3_scan_end(t: *mut Awss3Table) {
    guard(|| {
        if let Some(t) = t.as_mut() {
            t.table.scan_end();
        }
        Ok(0)
    });
}

/// Reads the row with this key: 0 and cells, or `HA_ERR_KEY_NOT_FOUND`.
/// `by` (`Awss3ReadBy`): a lookup, or a position this statement's read
/// returned, whose key-only reads send no request.
///
/// # Safety
/// Buffers valid for their lengths; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_read_key(
    t: *mut Awss3Table,
    key: *const u8,
    key_len: usize,
    by: i32,
    needed_cols: *const bool,
    n: usize,
    cells: *mut *const Awss3Cell,
    ncells: *mut usize,
) -> i32 {
    guard(|| {
        let by = Awss3ReadBy::try_from(by)
            .map_err(|b| Error::Engine(format!("unknown read kind {b}")))?;
        read_one(t, cells, ncells, |table| {
            let (key, needed) = (bytes(key, key_len), needed(needed_cols, n));
            match by {
                Awss3ReadBy::AWSS3_READ_LOOKUP => table.read_key(key, &needed),
                Awss3ReadBy::AWSS3_READ_POSITION => table.read_position(key, &needed),
            }
        })
    })
}

/// One row by `read`: emitted as cells (0), or `HA_ERR_KEY_NOT_FOUND`.
unsafe fn read_one(
    t: *mut Awss3Table,
    cells: *mut *const Awss3Cell,
    ncells: *mut usize,
    read: impl FnOnce(&mut table::Table) -> Result<bool, Error>,
) -> Result<i32, Error> {
    let t = table_mut(t)?;
    if read(&mut t.table)? {
        t.emit(cells, ncells);
        Ok(0)
    } else {
        Ok(HA_ERR_KEY_NOT_FOUND)
    }
}

/// The row count `info()` reports (see `stats.rs`): the last one listed,
/// or one LIST page on the table's first use since start-up while a statement
/// uses it (`in_statement`; once per statement `query`), else a guess; the
/// exact count when the statement deletes every row (`deletes_all`: it
/// reports the count as its affected rows). Only that count's failure is an
/// error. A handler whose table did not open (`t` null) gets the guess.
///
/// # Safety
/// `t` valid or null; `records` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_table_stats(
    t: *mut Awss3Table,
    query: u64,
    in_statement: bool,
    deletes_all: bool,
    records: *mut u64,
) -> i32 {
    guard(|| {
        let n = match t.as_mut() {
            None => stats::records_unopened(),
            Some(h) => h
                .stats
                .records(&mut h.table, query, in_statement, deletes_all)?,
        };
        if let Some(r) = records.as_mut() {
            *r = n;
        }
        Ok(0)
    })
}

/// Whether ranges on a key column of character set `charset` (`binary`:
/// bytes) can be LISTs in key order (else the key serves exact lookups only).
///
/// # Safety
/// `charset` valid for `charset_len`.
#[no_mangle]
pub unsafe extern "C" fn awss3_key_ranges_listable(
    charset: *const c_char,
    charset_len: usize,
    binary: bool,
) -> bool {
    boundary(|| {
        let name = String::from_utf8_lossy(bytes(charset as *const u8, charset_len));
        crate::keycodec::listing_in_key_order(&name, binary)
    })
}

/// The optimizer's cost of a full scan of `rows` rows, in S3 requests.
#[no_mangle]
pub extern "C" fn awss3_scan_cost(rows: f64) -> f64 {
    boundary(|| stats::scan_cost(rows))
}

/// The optimizer's cost of reading `rows` rows through `ranges` key ranges.
#[no_mangle]
pub extern "C" fn awss3_read_cost(ranges: u64, rows: u64) -> f64 {
    boundary(|| stats::read_cost(ranges, rows))
}

/// The rows a key range that is not one key value is taken to hold, of a
/// table of `records` rows.
#[no_mangle]
pub extern "C" fn awss3_range_rows(records: u64) -> u64 {
    boundary(|| stats::range_rows(records))
}

/// Starts the handler's progress report, `expected` rows: the first report
/// to make (`done`, `total`). The shim calls it only when the statement's
/// progress is free (the first operation to report owns it).
///
/// # Safety
/// `t` valid or null (then nothing is reported); out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_progress_start(
    t: *mut Awss3Table,
    expected: u64,
    done: *mut u64,
    total: *mut u64,
) -> bool {
    boundary(|| {
        let Some(h) = t.as_mut() else {
            return false;
        };
        let (d, n) = h.progress.start(expected);
        if !done.is_null() && !total.is_null() {
            *done = d;
            *total = n;
        }
        true
    })
}

/// One more row of the handler's operation: true with the report to make
/// now (`done`, `total`), false when there is none to make.
///
/// # Safety
/// `t` valid or null; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_progress_step(
    t: *mut Awss3Table,
    done: *mut u64,
    total: *mut u64,
) -> bool {
    boundary(|| {
        let Some((d, n)) = t.as_mut().and_then(|h| h.progress.step()) else {
            return false;
        };
        if !done.is_null() && !total.is_null() {
            *done = d;
            *total = n;
        }
        true
    })
}

/// The handler's operation ends: whether it owned the statement's progress
/// (then the shim ends it).
///
/// # Safety
/// `t` valid or null.
#[no_mangle]
pub unsafe extern "C" fn awss3_progress_stop(t: *mut Awss3Table) -> bool {
    boundary(|| t.as_mut().is_some_and(|h| h.progress.stop()))
}

/// One lookup by key (not batched) in statement `query`: true, with the note
/// to push (valid until the next call), once per statement after enough of
/// them when `batchable` (a SELECT the server could batch and does not).
///
/// # Safety
/// `t` valid or null; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_lookup_note(
    t: *mut Awss3Table,
    query: u64,
    batchable: bool,
    msg: *mut *const c_char,
    len: *mut usize,
) -> bool {
    boundary(|| {
        let Some(h) = t.as_mut() else {
            return false;
        };
        if !h.lookups.count(query, batchable) {
            return false;
        }
        h.text_out = lookups::note(&h.db, &h.name).into_bytes();
        if !msg.is_null() && !len.is_null() {
            *msg = h.text_out.as_ptr() as *const c_char;
            *len = h.text_out.len();
        }
        true
    })
}

/// The row last returned does not fit its columns (`why`, from the shim):
/// 0 when it is to be skipped (a warning is queued: `awss3_take_warning`),
/// else `AWSS3_ERROR_ENGINE` with the message naming the object. The core
/// decides, with the setting the read that produced the row started with.
///
/// # Safety
/// `t` valid; `why` valid for `why_len`.
#[no_mangle]
pub unsafe extern "C" fn awss3_row_malformed(
    t: *mut Awss3Table,
    why: *const c_char,
    why_len: usize,
) -> i32 {
    guard(|| {
        let why = String::from_utf8_lossy(bytes(why as *const u8, why_len)).into_owned();
        table_mut(t)?.table.row_malformed(&why)?;
        Ok(0)
    })
}

/// Starts a batch of point reads (multi-range read) of the columns in
/// `needed`; `window` receives how many keys may be queued at once.
///
/// # Safety
/// `t` valid; `needed` has `n` entries; `window` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_batch_start(
    t: *mut Awss3Table,
    needed_cols: *const bool,
    n: usize,
    window: *mut usize,
) -> i32 {
    guard(|| {
        let w = table_mut(t)?.table.batch_start(&needed(needed_cols, n))?;
        if !window.is_null() {
            *window = w;
        }
        Ok(0)
    })
}

/// Queues the read of the row with this key value; its request starts now.
///
/// # Safety
/// `t` valid; `key` valid for `key_len`.
#[no_mangle]
pub unsafe extern "C" fn awss3_batch_push(
    t: *mut Awss3Table,
    key: *const u8,
    key_len: usize,
) -> i32 {
    guard(|| {
        table_mut(t)?.table.batch_push(bytes(key, key_len))?;
        Ok(0)
    })
}

/// The answer for the oldest queued key: 0 and cells when its row exists,
/// `HA_ERR_KEY_NOT_FOUND` when it does not, `HA_ERR_END_OF_FILE` when no key
/// is queued.
///
/// # Safety
/// `t` valid; out-params writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_batch_next(
    t: *mut Awss3Table,
    cells: *mut *const Awss3Cell,
    ncells: *mut usize,
) -> i32 {
    guard(|| {
        let t = table_mut(t)?;
        match t.table.batch_next()? {
            None => Ok(HA_ERR_END_OF_FILE),
            Some(false) => Ok(HA_ERR_KEY_NOT_FOUND),
            Some(true) => {
                t.emit(cells, ncells);
                Ok(0)
            }
        }
    })
}

/// Ends the batch; stops the reads still in flight.
///
/// # Safety
/// `t` must be a valid table or null.
#[no_mangle]
pub unsafe extern "C" fn awss3_batch_end(t: *mut Awss3Table) {
    guard(|| {
        if let Some(t) = t.as_mut() {
            t.table.batch_end();
        }
        Ok(0)
    });
}

/// A multi-row INSERT starts: `rows` the rows it says it inserts (0: not
/// said), `one_by_one` whether it needs each row's outcome before the next
/// (see `insert.rs`). `concurrent` receives whether its rows are written
/// concurrently, up to `awss3_prefetch_window` at a time (then
/// `awss3_bulk_end` waits for them).
///
/// # Safety
/// `t` must be a valid table; `concurrent` writable.
#[no_mangle]
pub unsafe extern "C" fn awss3_bulk_begin(
    t: *mut Awss3Table,
    rows: u64,
    one_by_one: bool,
    concurrent: *mut bool,
) -> i32 {
    guard(|| {
        let table = &mut table_mut(t)?.table;
        let bulk = insert::concurrent(rows, one_by_one);
        if bulk {
            table.bulk_begin()?;
        }
        if let Some(c) = concurrent.as_mut() {
            *c = bulk;
        }
        Ok(0)
    })
}

/// A DELETE of several rows starts: `awss3_delete` then queues each row's
/// DELETE, sent up to the window at a time; `awss3_bulk_end` waits for them.
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_bulk_delete_begin(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.bulk_delete_begin()?;
        Ok(0)
    })
}

/// An UPDATE of several rows starts (`start_bulk_update`): rows that keep
/// their key are written concurrently until `awss3_bulk_end`.
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_bulk_update_begin(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.bulk_update_begin()?;
        Ok(0)
    })
}

/// Waits for the rows of a multi-row INSERT, DELETE or UPDATE: 0, or the first failure
/// (`AWSS3_ERROR_DUP_KEY_DEFERRED` for a duplicate key).
///
/// # Safety
/// `t` must be a valid table.
#[no_mangle]
pub unsafe extern "C" fn awss3_bulk_end(t: *mut Awss3Table) -> i32 {
    guard(|| {
        table_mut(t)?.table.bulk_end()?;
        Ok(0)
    })
}

/// INSERT one row (`HA_ERR_FOUND_DUPP_KEY` when the key exists).
///
/// # Safety
/// `cells` has `n` valid cells.
#[no_mangle]
pub unsafe extern "C" fn awss3_insert(
    t: *mut Awss3Table,
    cells: *const Awss3Cell,
    n: usize,
) -> i32 {
    guard(|| {
        let values = values_in(cells, n)?;
        table_mut(t)?.table.insert(&values)?;
        Ok(0)
    })
}

/// UPDATE the row read with key `old_key` and values `old_cells` to `cells`
/// (`HA_ERR_RECORD_CHANGED` when another writer changed it meanwhile;
/// `HA_ERR_RECORD_IS_THE_SAME`, and no request, when nothing changes).
///
/// # Safety
/// Buffers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn awss3_update(
    t: *mut Awss3Table,
    old_key: *const u8,
    old_key_len: usize,
    old_cells: *const Awss3Cell,
    old_n: usize,
    cells: *const Awss3Cell,
    n: usize,
) -> i32 {
    guard(|| {
        let values = values_in(cells, n)?;
        if same_row(&values_in(old_cells, old_n)?, &values) {
            return Ok(AWSS3_HA_ERR_RECORD_IS_THE_SAME);
        }
        table_mut(t)?
            .table
            .update(bytes(old_key, old_key_len), &values)?;
        Ok(0)
    })
}

/// DELETE the row with this key.
///
/// # Safety
/// Buffers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn awss3_delete(t: *mut Awss3Table, key: *const u8, key_len: usize) -> i32 {
    guard(|| {
        table_mut(t)?.table.delete(bytes(key, key_len))?;
        Ok(0)
    })
}

/// Takes the next condition the last calls produced (skipped objects,
/// notices): true with its text and whether it is a note (not escalated by
/// strict mode), or false when there is none.
///
/// # Safety
/// `t` valid; out-params writable. The text is valid until the next call.
#[no_mangle]
pub unsafe extern "C" fn awss3_take_warning(
    t: *mut Awss3Table,
    msg: *mut *const c_char,
    len: *mut usize,
    is_note: *mut bool,
) -> bool {
    boundary(|| {
        let Some(t) = t.as_mut() else {
            return false;
        };
        let Some((note, w)) = t.table.take_warning() else {
            return false;
        };
        t.text_out = w.into_bytes();
        if !msg.is_null() && !len.is_null() && !is_note.is_null() {
            *msg = t.text_out.as_ptr() as *const c_char;
            *len = t.text_out.len();
            *is_note = note;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_and_engine_errors_carry_text() {
        let all = [
            Error::DupKey,
            Error::DupKeyDeferred("k".into()),
            Error::RecordChanged,
            Error::NotFound,
            Error::ReadOnly,
            Error::Killed,
            Error::Engine("x".into()),
        ];
        let mut codes: Vec<i32> = all.iter().map(code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(Error::Engine("boom".into()).to_string(), "boom");
    }

    #[test]
    fn header_literals_match_the_core() {
        // cbindgen needs literals; this is the core's own value.
        assert_eq!(AWSS3_MAX_KEY_BYTES, crate::keycodec::MAX_OBJECT_KEY_BYTES);
    }

    #[test]
    fn unknown_kinds_roles_attributes_and_formats_are_refused() {
        assert_eq!(
            Awss3ReadBy::try_from(1),
            Ok(Awss3ReadBy::AWSS3_READ_POSITION)
        );
        assert_eq!(Awss3ReadBy::try_from(2), Err(2));
        let name = "c";
        let col = |role, attr, kind| Awss3Column {
            name: name.as_ptr() as *const c_char,
            name_len: name.len(),
            role,
            attr,
            meta: std::ptr::null(),
            meta_len: 0,
            kind,
            nullable: false,
            max_bytes: 0,
        };
        let def = |cols: &[Awss3Column], format| Awss3TableDef {
            path: name.as_ptr() as *const c_char,
            path_len: 1,
            db: name.as_ptr() as *const c_char,
            db_len: 1,
            name: name.as_ptr() as *const c_char,
            name_len: 1,
            connection: std::ptr::null(),
            connection_len: 0,
            format,
            read_only: false,
            key_pad_space: false,
            columns: cols.as_ptr(),
            ncolumns: cols.len(),
            server: std::ptr::null(),
            frm: std::ptr::null(),
            frm_len: 0,
            version: std::ptr::null(),
            version_len: 0,
        };
        let key = col(AWSS3_ROLE_KEY as i32, 0, AWSS3_CELL_TEXT as i32);
        let ok = [
            key,
            col(
                AWSS3_ROLE_ATTR as i32,
                AWSS3_ATTR_CONTENT_TYPE as i32,
                AWSS3_CELL_TEXT as i32,
            ),
        ];
        assert!(unsafe { table_def(&def(&ok, AWSS3_FORMAT_AUTO as i32)) }.is_ok());
        let cases: [(Vec<Awss3Column>, i32, &str); 4] = [
            (
                vec![
                    col(AWSS3_ROLE_KEY as i32, 0, AWSS3_CELL_TEXT as i32),
                    col(AWSS3_ROLE_ATTR as i32, 9, AWSS3_CELL_TEXT as i32),
                ],
                AWSS3_FORMAT_AUTO as i32,
                "unknown attribute kind 9",
            ),
            (
                vec![
                    col(AWSS3_ROLE_KEY as i32, 0, AWSS3_CELL_TEXT as i32),
                    col(7, 0, AWSS3_CELL_TEXT as i32),
                ],
                AWSS3_FORMAT_AUTO as i32,
                "unknown column role 7",
            ),
            (
                vec![col(AWSS3_ROLE_KEY as i32, 0, 42)],
                AWSS3_FORMAT_AUTO as i32,
                "bad column kind 42",
            ),
            (
                vec![col(AWSS3_ROLE_KEY as i32, 0, AWSS3_CELL_TEXT as i32)],
                5,
                "unknown body format 5",
            ),
        ];
        for (cols, format, want) in cases {
            let err = unsafe { table_def(&def(&cols, format)) }.unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        let bad = Awss3Cell {
            kind: 77,
            ..cell_out(&Value::Null)
        };
        let err = unsafe { values_in(&bad, 1) }.unwrap_err();
        assert!(err.to_string().contains("unknown cell kind 77"), "{err}");
    }

    #[test]
    fn panics_become_each_return_types_failure_value() {
        assert!(!boundary(|| -> bool { panic!("bool") }));
        assert!(boundary(|| -> *mut Awss3Budget { panic!("ptr") }).is_null());
        boundary(|| -> () { panic!("unit") });
        assert_eq!(boundary(|| -> i32 { panic!("code") }), AWSS3_ERR_ENGINE);
        assert!(boundary(|| true));
    }

    #[test]
    fn panics_become_error_codes() {
        let code = guard(|| panic!("boom"));
        assert_eq!(code, AWSS3_ERR_ENGINE);
        let mut p = std::ptr::null();
        let mut n = 0;
        unsafe { awss3_last_error(&mut p, &mut n) };
        let msg = unsafe { std::str::from_utf8(bytes(p as *const u8, n)).unwrap() };
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn cells_round_trip_through_the_boundary() {
        let values = vec![
            Value::Null,
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Double(-0.5),
            Value::Float(0.1),
            Value::Number("-1.50".into()),
            Value::Text("é".into()),
            Value::Temporal("2024-02-29 23:59:59.999999".into()),
            Value::Bytes(vec![0, 255]),
        ];
        let cells: Vec<Awss3Cell> = values.iter().map(cell_out).collect();
        let back = unsafe { values_in(cells.as_ptr(), cells.len()).unwrap() };
        assert_eq!(back, values);
        assert_eq!(cell_out(&Value::Default).kind, AWSS3_CELL_DEFAULT as i32);
    }
}
