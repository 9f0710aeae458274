/* The boundary between the C++ handler shim and the Rust core.
 * Generated from src/ffi.rs by cbindgen (build.rs): do not edit. */

#ifndef AWSS3_H
#define AWSS3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The server's `HA_ERR_*` codes the core returns (my_base.h): exported so
 * that the shim `static_assert`s each against the server's own header.
 */
#define AWSS3_HA_ERR_KEY_NOT_FOUND 120

#define AWSS3_HA_ERR_FOUND_DUPP_KEY 121

#define AWSS3_HA_ERR_RECORD_CHANGED 123

#define AWSS3_HA_ERR_END_OF_FILE 137

#define AWSS3_HA_ERR_RECORD_IS_THE_SAME 169

#define AWSS3_HA_ERR_TABLE_READONLY 165

#define AWSS3_HA_ERR_ABORTED_BY_USER 188

/**
 * Error codes beyond `HA_ERR_*` (see `awss3_last_error`).
 */
#define AWSS3_ERROR_ENGINE 4001

/**
 * ER_DUP_ENTRY for the key in `awss3_last_error` (a multi-row INSERT finds
 * duplicates after the row was handed over).
 */
#define AWSS3_ERROR_DUP_KEY_DEFERRED 4002

/**
 * Not finished within the wait given: call again (check KILL in between).
 */
#define AWSS3_ERROR_PENDING -1

/**
 * Longest object key S3 stores (the shim's position buffer holds one).
 */
#define AWSS3_MAX_KEY_BYTES 1024

/**
 * What a create is for, from the server's own flags (never from names).
 */
typedef enum Awss3CreateKind {
  /**
   * CREATE TABLE (also CREATE TABLE ... SELECT / LIKE).
   */
  AWSS3_CREATE_TABLE = 0,
  /**
   * ALTER TABLE's copy of a table of another engine (`HA_CREATE_TMP_ALTER`,
   * e.g. ALTER TABLE ... ENGINE=AWSS3 from InnoDB).
   */
  AWSS3_CREATE_ALTER_COPY = 1,
  /**
   * ALTER TABLE's copy of an AWSS3 table into AWSS3 (`HA_CREATE_TMP_ALTER`
   * with an AWSS3 source: ALGORITHM=COPY, ORDER BY, ...).
   */
  AWSS3_CREATE_ALTER_SELF_COPY = 2,
  /**
   * CREATE TEMPORARY TABLE (`HA_LEX_CREATE_TMP_TABLE`).
   */
  AWSS3_CREATE_TEMPORARY = 3,
} Awss3CreateKind;

/**
 * What the check of a table's definition against the catalogue found.
 */
typedef enum Awss3Definition {
  /**
   * Current (or the catalogue could not be asked).
   */
  AWSS3_DEFINITION_SAME = 0,
  /**
   * Changed or dropped by another server: discover it again.
   */
  AWSS3_DEFINITION_CHANGED = 1,
  /**
   * Not in the catalogue, never was: publish it (`awss3_catalog_publish`).
   */
  AWSS3_DEFINITION_UNPUBLISHED = 2,
  /**
   * The catalogue has another table of this name, which this server never
   * knew: this server keeps its own.
   */
  AWSS3_DEFINITION_CONFLICT = 3,
} Awss3Definition;

/**
 * What a scan does with an object that is not a row of the table.
 */
typedef enum Awss3Malformed {
  /**
   * As `awss3_skip_malformed` says: fail the statement, or skip with a warning.
   */
  AWSS3_MALFORMED_AS_SET = 0,
  /**
   * CHECK TABLE: a warning naming the object for each one, and go on.
   */
  AWSS3_MALFORMED_REPORT = 1,
} Awss3Malformed;

/**
 * Cell kinds (`Awss3Cell::kind`, `Awss3Column::kind`).
 */
typedef enum Awss3CellKind {
  AWSS3_CELL_NULL = 0,
  /**
   * The body has no such field: store the column's default.
   */
  AWSS3_CELL_DEFAULT = 1,
  AWSS3_CELL_INT = 2,
  AWSS3_CELL_UINT = 3,
  AWSS3_CELL_DOUBLE = 4,
  AWSS3_CELL_FLOAT = 5,
  /**
   * Decimal number as text.
   */
  AWSS3_CELL_NUMBER = 6,
  /**
   * UTF-8 text.
   */
  AWSS3_CELL_TEXT = 7,
  /**
   * Date/time text.
   */
  AWSS3_CELL_TEMPORAL = 8,
  AWSS3_CELL_BYTES = 9,
} Awss3CellKind;

/**
 * Column roles (`Awss3Column::role`).
 */
typedef enum Awss3Role {
  AWSS3_ROLE_KEY = 0,
  AWSS3_ROLE_VALUE = 1,
  AWSS3_ROLE_ATTR = 2,
  AWSS3_ROLE_META = 3,
  /**
   * A virtual generated column: never in the object.
   */
  AWSS3_ROLE_COMPUTED = 4,
} Awss3Role;

/**
 * S3 attributes (`Awss3Column::attr`, same order as S3_ATTR's values).
 */
typedef enum Awss3Attr {
  AWSS3_ATTR_SIZE = 0,
  AWSS3_ATTR_LAST_MODIFIED = 1,
  AWSS3_ATTR_ETAG = 2,
  AWSS3_ATTR_CONTENT_TYPE = 3,
} Awss3Attr;

/**
 * Body formats (`Awss3TableDef::format`, same order as FORMAT=).
 */
typedef enum Awss3Format {
  AWSS3_FORMAT_AUTO = 0,
  AWSS3_FORMAT_RAW = 1,
  AWSS3_FORMAT_JSON = 2,
} Awss3Format;

/**
 * Bound kinds of `awss3_scan_start` and `awss3_last_key`.
 */
typedef enum Awss3Bound {
  AWSS3_BOUND_NONE = 0,
  AWSS3_BOUND_INCLUSIVE = 1,
  AWSS3_BOUND_EXCLUSIVE = 2,
} Awss3Bound;

/**
 * What `awss3_read_key` reads by: a key of the statement's (a lookup), or a
 * position this statement's own read returned (`rnd_pos`).
 */
typedef enum Awss3ReadBy {
  AWSS3_READ_LOOKUP = 0,
  AWSS3_READ_POSITION = 1,
} Awss3ReadBy;

/**
 * The request budget of one statement (awss3_max_requests_per_statement),
 * shared by the tables it uses (opaque).
 */
typedef struct Awss3Budget Awss3Budget;

/**
 * An open table (opaque).
 */
typedef struct Awss3Table Awss3Table;

/**
 * Every server-wide setting (the `awss3_*` global variables), handed over
 * whole at plugin start and whenever one is SET. The secrets live in the
 * core alone (the variables show a mask): null leaves the current one.
 */
typedef struct Awss3Settings {
  const char *endpoint;
  size_t endpoint_len;
  const char *region;
  size_t region_len;
  const char *bucket;
  size_t bucket_len;
  const char *access_key_id;
  size_t access_key_id_len;
  /**
   * Null: unchanged.
   */
  const char *secret_access_key;
  size_t secret_access_key_len;
  /**
   * Null: unchanged.
   */
  const char *session_token;
  size_t session_token_len;
  uint64_t prefetch_window;
  uint64_t max_retries;
  /**
   * Seconds.
   */
  uint64_t request_timeout;
  bool skip_malformed;
  bool discovery;
  /**
   * Seconds (0: every statement checks).
   */
  uint64_t definition_check_interval;
  bool last_writer_wins;
  /**
   * Null: unchanged.
   */
  const char *catalog_key;
  size_t catalog_key_len;
  /**
   * Bytes of rows the row cache may hold (0: off).
   */
  uint64_t row_cache_size;
  /**
   * Bytes one scan's fetched bodies may hold.
   */
  uint64_t scan_memory;
} Awss3Settings;

/**
 * The `Awss3_*` status variables.
 */
typedef struct Awss3Counters {
  uint64_t get_requests;
  uint64_t head_requests;
  uint64_t put_requests;
  uint64_t list_requests;
  uint64_t delete_requests;
  uint64_t retries;
  uint64_t errors;
  uint64_t bytes_received;
  uint64_t bytes_sent;
  /**
   * Requests moved to the next endpoint of a location (connection failures, timeouts).
   */
  uint64_t endpoint_failovers;
  /**
   * Rows a scan took from the row cache (no request).
   */
  uint64_t row_cache_hits;
  /**
   * Rows a scan that may use the row cache had to GET.
   */
  uint64_t row_cache_misses;
  /**
   * Bytes the row cache holds now (never above awss3_row_cache_size).
   */
  uint64_t row_cache_bytes;
  /**
   * Rows the row cache holds now.
   */
  uint64_t row_cache_rows;
  /**
   * Requests the store throttled (503 SlowDown, 429) or dropped, retried:
   * each one halves the windows of the statements running.
   */
  uint64_t throttled;
  /**
   * Requests the last scan, batched read or multi-row write kept in
   * flight when it last sized its window (`window::Gate`).
   */
  uint64_t window;
} Awss3Counters;

typedef struct Awss3Column {
  const char *name;
  size_t name_len;
  int32_t role;
  int32_t attr;
  /**
   * S3_META name.
   */
  const char *meta;
  size_t meta_len;
  int32_t kind;
  bool nullable;
  /**
   * The most bytes a value's text can take (0: unknown); the core bounds
   * the bodies it reads with it.
   */
  uint64_t max_bytes;
} Awss3Column;

/**
 * A CREATE SERVER's row, as the server keeps it (mysql.servers). The shim
 * passes it when a table's CONNECTION names a server that exists.
 */
typedef struct Awss3Server {
  const char *name;
  size_t name_len;
  /**
   * FOREIGN DATA WRAPPER (must be awss3).
   */
  const char *wrapper;
  size_t wrapper_len;
  /**
   * HOST: the endpoint URL (empty: AWS S3).
   */
  const char *host;
  size_t host_len;
  /**
   * DATABASE: the bucket.
   */
  const char *database;
  size_t database_len;
  /**
   * USER: the access key id.
   */
  const char *user;
  size_t user_len;
  /**
   * PASSWORD: the secret access key.
   */
  const char *password;
  size_t password_len;
  /**
   * SOCKET: the region.
   */
  const char *socket;
  size_t socket_len;
  int64_t port;
} Awss3Server;

typedef struct Awss3TableDef {
  const char *path;
  size_t path_len;
  const char *db;
  size_t db_len;
  const char *name;
  size_t name_len;
  const char *connection;
  size_t connection_len;
  int32_t format;
  bool read_only;
  bool key_pad_space;
  const struct Awss3Column *columns;
  size_t ncolumns;
  /**
   * The server CONNECTION names, or null.
   */
  const struct Awss3Server *server;
  /**
   * At CREATE only (else null / 0): the server's definition image and its
   * version id, which the shared catalogue (`awss3_discovery`) holds.
   */
  const uint8_t *frm;
  size_t frm_len;
  const uint8_t *version;
  size_t version_len;
} Awss3TableDef;

/**
 * How the core asks whether the statement it works for was killed: the
 * shim's `probe(arg)` (it calls `thd_killed`). Called only on the thread that
 * made the call, while it waits on S3.
 */
typedef bool (*Awss3KilledProbe)(const void *arg);

/**
 * Where a column of an ALTER TABLE's new definition comes from.
 */
typedef struct Awss3AlterColumn {
  /**
   * Index of the old column; -1 for an added column.
   */
  int64_t old_index;
  /**
   * Every value of the old column reads back unchanged from its stored
   * form as a value of the new one (the shim decides from the types).
   */
  bool values_kept;
  /**
   * The new column's default is an expression (NOW(), UUID(), ...).
   */
  bool default_is_expression;
} Awss3AlterColumn;

/**
 * A table's name as the server knows it (not its file name).
 */
typedef struct Awss3TableName {
  const char *db;
  size_t db_len;
  const char *table;
  size_t table_len;
} Awss3TableName;

/**
 * Called once per name `awss3_catalog_names` finds: `shared_here` false
 * for a table the catalogue has (its name), true for a table of this server
 * that was in the catalogue (its file name in the database directory).
 */
typedef void (*Awss3NameSink)(void *arg, bool shared_here, const char *name, size_t len);

/**
 * A byte string the shim hands over (a name).
 */
typedef struct Awss3Bytes {
  const uint8_t *data;
  size_t len;
} Awss3Bytes;

/**
 * Progress of a long operation (TRUNCATE, a count): called on the
 * statement's own thread while it waits, with the same `arg` as the probe.
 */
typedef void (*Awss3ProgressReport)(const void *arg, uint64_t done, uint64_t total);

/**
 * One column value crossing the boundary. `data`/`len` hold text and bytes;
 * cells returned by the core stay valid until the next call on the table.
 */
typedef struct Awss3Cell {
  int32_t kind;
  int64_t int_value;
  double real_value;
  const uint8_t *data;
  size_t len;
} Awss3Cell;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Starts the plugin's I/O runtime (plugin init).
 */
int32_t awss3_init(void);

/**
 * Stops the runtime: joins its threads, closes its sockets (plugin deinit).
 */
void awss3_shutdown(void);

/**
 * Replaces the server-wide settings.
 *
 * # Safety
 * `s` valid; its buffers valid for their lengths.
 */
int32_t awss3_settings_set(const struct Awss3Settings *s);

/**
 * # Safety
 * `out` must point to an `Awss3Counters`.
 */
void awss3_counters_get(struct Awss3Counters *out);

/**
 * The message of this thread's last failed call (valid until the next call).
 *
 * # Safety
 * Out-params must be valid pointers.
 */
void awss3_last_error(const char **msg, size_t *len);

/**
 * CREATE TABLE: checks the definition and the location; picks and records
 * an engine-chosen location next to the .frm. `note`/`note_len` receive a
 * note for the user (empty if none), valid until this thread's next call.
 *
 * # Safety
 * `def` and everything it points to must be valid; out-params writable.
 */
int32_t awss3_table_create(const struct Awss3TableDef *def,
                           enum Awss3CreateKind kind,
                           Awss3KilledProbe killed,
                           const void *killed_arg,
                           const char **note,
                           size_t *note_len);

/**
 * ALTER TABLE: 0 when the change from `old` to `new` is made in place
 * without touching an object; otherwise `AWSS3_ERROR_ENGINE` with the reason
 * and what to do instead. `cols` has one entry per column of `new`. Nothing
 * is written: `awss3_alter_commit` records the change once the server has.
 *
 * # Safety
 * Definitions valid; `cols` has `ncols` entries.
 */
int32_t awss3_alter_check(const struct Awss3TableDef *old,
                          const struct Awss3TableDef *new_,
                          const struct Awss3AlterColumn *cols,
                          size_t ncols);

/**
 * ALTER TABLE made in place is being committed: records what the table must
 * remember (the JSON fields of dropped columns), next to the .frm of `old`.
 *
 * # Safety
 * As `awss3_alter_check`.
 */
int32_t awss3_alter_commit(const struct Awss3TableDef *old,
                           const struct Awss3TableDef *new_,
                           const struct Awss3AlterColumn *cols,
                           size_t ncols);

/**
 * DROP TABLE at `path`: deletes the objects the table owns and, with
 * discovery, withdraws it from the catalogue. `frm_present`: the server has
 * the table's .frm (else only the catalogue may know it, and
 * `HA_ERR_KEY_NOT_FOUND` says nobody does).
 *
 * # Safety
 * Buffers must be valid for their lengths; `name` valid.
 */
int32_t awss3_table_drop(const char *path,
                         size_t path_len,
                         const struct Awss3TableName *name,
                         bool frm_present,
                         Awss3KilledProbe killed,
                         const void *killed_arg);

/**
 * RENAME TABLE from `from` to `to` (paths; `names`: the same as the server
 * names them): moves the location file, sending no object request. With
 * discovery the catalogue entry moves too: `in_place` says the rename puts
 * a table in its place (RENAME TABLE, ALTER ... RENAME, ALTER's copy), not
 * one of ALTER's internal renames; `frm`/`version` is this server's
 * definition (null: it has none, the table is known from the catalogue).
 * `HA_ERR_KEY_NOT_FOUND`: no such table here or in the catalogue.
 *
 * # Safety
 * Buffers must be valid for their lengths; names valid.
 */
int32_t awss3_table_rename(const char *from,
                           size_t from_len,
                           const char *to,
                           size_t to_len,
                           const struct Awss3TableName *from_name,
                           const struct Awss3TableName *to_name,
                           bool in_place,
                           const uint8_t *frm,
                           size_t frm_len,
                           const uint8_t *version,
                           size_t version_len,
                           Awss3KilledProbe killed,
                           const void *killed_arg);

/**
 * Table discovery: the definition image the catalogue holds for `name`
 * (valid until this thread's next call), its location file written at
 * `path`; `HA_ERR_KEY_NOT_FOUND` when the catalogue has no such table (or
 * discovery is off).
 *
 * # Safety
 * Buffers valid for their lengths; out-params writable.
 */
int32_t awss3_catalog_discover(const struct Awss3TableName *name,
                               const char *path,
                               size_t path_len,
                               Awss3KilledProbe killed,
                               const void *killed_arg,
                               const uint8_t **frm,
                               size_t *frm_len);

/**
 * Whether the catalogue has the table (`out`).
 *
 * # Safety
 * `name` valid; `out` writable.
 */
int32_t awss3_catalog_exists(const struct Awss3TableName *name,
                             Awss3KilledProbe killed,
                             const void *killed_arg,
                             bool *out);

/**
 * The tables the catalogue has in database `db`, and this server's tables
 * in `db_dir` that were in it, each handed to `each`.
 *
 * # Safety
 * Buffers valid for their lengths.
 */
int32_t awss3_catalog_names(const char *db,
                            size_t db_len,
                            const char *db_dir,
                            size_t db_dir_len,
                            Awss3KilledProbe killed,
                            const void *killed_arg,
                            Awss3NameSink each,
                            void *each_arg);

/**
 * What SHOW TABLES lists for a database with discovery (see
 * `discovery.rs`): given the server's list `listed`, the catalogue's names
 * `shared` and this server's shared tables `here` (from
 * `awss3_catalog_names`, as table names), the indexes into `shared` of the
 * names to add (`add`, room for `nshared`) and the ascending indexes into
 * `listed` of the names to remove (`drop`, room for `nlisted`).
 * `dropping_db`: the list is for DROP DATABASE.
 *
 * # Safety
 * Arrays valid for their counts; out-params writable with the room said.
 */
int32_t awss3_discovery_changes(const struct Awss3Bytes *listed,
                                size_t nlisted,
                                const struct Awss3Bytes *shared,
                                size_t nshared,
                                const struct Awss3Bytes *here,
                                size_t nhere,
                                bool dropping_db,
                                size_t *add,
                                size_t *nadd,
                                size_t *drop,
                                size_t *ndrop);

/**
 * Checks this server's definition `version` of a table against the
 * catalogue (at most one HEAD per `awss3_definition_check_interval`).
 *
 * # Safety
 * Buffers valid for their lengths; `out` writable.
 */
int32_t awss3_catalog_check(const struct Awss3TableName *name,
                            const char *path,
                            size_t path_len,
                            const uint8_t *version,
                            size_t version_len,
                            Awss3KilledProbe killed,
                            const void *killed_arg,
                            enum Awss3Definition *out);

/**
 * Publishes this server's definition of a table (image `frm`, id
 * `version`): one never published (`expect` null), or after an in-place
 * ALTER (`expect`: the version the ALTER started from, which the catalogue
 * must still hold, or the call fails saying another server changed it).
 *
 * # Safety
 * Buffers valid for their lengths.
 */
int32_t awss3_catalog_publish(const struct Awss3TableName *name,
                              const char *path,
                              size_t path_len,
                              const uint8_t *version,
                              size_t version_len,
                              const uint8_t *frm,
                              size_t frm_len,
                              const uint8_t *expect,
                              size_t expect_len,
                              Awss3KilledProbe killed,
                              const void *killed_arg);

/**
 * Opens a table; free it with `awss3_table_free`.
 *
 * # Safety
 * `def` must be valid; `out` must point to a writable pointer.
 */
int32_t awss3_table_new(const struct Awss3TableDef *def, struct Awss3Table **out);

/**
 * # Safety
 * `t` must come from `awss3_table_new` (or be null) and not be used again.
 */
void awss3_table_free(struct Awss3Table *t);

/**
 * The statement now working on the table (at its start; `killed` null at
 * its end): waits on S3 for it end when `killed(killed_arg)` says so, long
 * operations report through `progress(killed_arg, done, total)`, and its
 * requests are charged to `budget` (null: no limit). The handler's progress
 * ownership (`awss3_progress_start`) never carries into a new statement.
 *
 * # Safety
 * `t` valid; `killed_arg` valid for `killed` until the next call; `budget`
 * null or from `awss3_budget_new`.
 */
int32_t awss3_table_set_statement(struct Awss3Table *t,
                                  Awss3KilledProbe killed,
                                  Awss3ProgressReport progress,
                                  const void *killed_arg,
                                  const struct Awss3Budget *budget);

/**
 * A budget of `limit` requests (`limit` > 0).
 */
struct Awss3Budget *awss3_budget_new(uint64_t limit);

/**
 * # Safety
 * `b` from `awss3_budget_new`, or null; not used afterwards. Tables that
 * still hold it keep their share until their next statement.
 */
void awss3_budget_free(struct Awss3Budget *b);

/**
 * The table's location as `s3://bucket/prefix` (for messages and SHOW).
 *
 * # Safety
 * `t` valid; out-params writable. The text lives as long as the table.
 */
int32_t awss3_table_location(struct Awss3Table *t, const char **out, size_t *out_len);

/**
 * The exact number of rows (one LIST pass).
 *
 * # Safety
 * `t` must be a valid table; `out` writable.
 */
int32_t awss3_table_count(struct Awss3Table *t, uint64_t *out);

/**
 * TRUNCATE / DELETE of all rows.
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_table_truncate(struct Awss3Table *t);

/**
 * ALTER TABLE ... ENGINE=<other> starts copying the table out: with
 * discovery, the table is fenced first, so that no other server writes it
 * during the copy (one GET, one HEAD and one PUT, then a wait of about 3 s);
 * a table that is not shared sends nothing.
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_table_fence(struct Awss3Table *t);

/**
 * The copy ended without the table being renamed away (the ALTER failed or
 * was killed): the fence, if any, is lifted.
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_table_lift_fence(struct Awss3Table *t);

/**
 * Starts a scan, in key order, of the rows whose keys lie between the
 * bounds (`AWSS3_BOUND_NONE`: unbounded), filling the columns flagged in
 * `needed`. `whole`: the statement reads it to the end (no LIMIT), so a
 * full scan whose cost exceeds the request budget is refused up front.
 *
 * # Safety
 * `t` valid; `needed` has `n` entries; key buffers valid for their lengths.
 */
int32_t awss3_scan_start(struct Awss3Table *t,
                         const bool *needed_cols,
                         size_t n,
                         const uint8_t *lower,
                         size_t lower_len,
                         int32_t lower_kind,
                         const uint8_t *upper,
                         size_t upper_len,
                         int32_t upper_kind,
                         enum Awss3Malformed malformed,
                         bool whole);

/**
 * The next row: 0 and cells, `HA_ERR_END_OF_FILE`, or `AWSS3_ERROR_PENDING`
 * when nothing arrived within the core's wait slice (short, so that the
 * shim can check for KILL between calls).
 *
 * # Safety
 * `t` valid; out-params writable.
 */
int32_t awss3_scan_next(struct Awss3Table *t, const struct Awss3Cell **cells, size_t *ncells);

/**
 * The greatest key value up to `upper` (`AWSS3_BOUND_NONE`: of the whole
 * table), copied into `buf` (capacity `cap`); `HA_ERR_KEY_NOT_FOUND` if none.
 *
 * # Safety
 * `t` valid; `upper` valid for `upper_len`; `buf` has `cap` writable bytes.
 */
int32_t awss3_last_key(struct Awss3Table *t,
                       const uint8_t *upper,
                       size_t upper_len,
                       int32_t upper_kind,
                       uint8_t *buf,
                       size_t cap,
                       size_t *len);

/**
 * Ends the scan; stops its requests.
 *
 * # Safety
 * `t` must be a valid table or null.
 */
void awss3_scan_end(struct Awss3Table *t);

/**
 * Reads the row with this key: 0 and cells, or `HA_ERR_KEY_NOT_FOUND`.
 * `by` (`Awss3ReadBy`): a lookup, or a position this statement's read
 * returned, whose key-only reads send no request.
 *
 * # Safety
 * Buffers valid for their lengths; out-params writable.
 */
int32_t awss3_read_key(struct Awss3Table *t,
                       const uint8_t *key,
                       size_t key_len,
                       int32_t by,
                       const bool *needed_cols,
                       size_t n,
                       const struct Awss3Cell **cells,
                       size_t *ncells);

/**
 * The row count `info()` reports (see `stats.rs`): the last one listed,
 * or one LIST page on the table's first use since start-up while a statement
 * uses it (`in_statement`; once per statement `query`), else a guess; the
 * exact count when the statement deletes every row (`deletes_all`: it
 * reports the count as its affected rows). Only that count's failure is an
 * error. A handler whose table did not open (`t` null) gets the guess.
 *
 * # Safety
 * `t` valid or null; `records` writable.
 */
int32_t awss3_table_stats(struct Awss3Table *t,
                          uint64_t query,
                          bool in_statement,
                          bool deletes_all,
                          uint64_t *records);

/**
 * Whether ranges on a key column of character set `charset` (`binary`:
 * bytes) can be LISTs in key order (else the key serves exact lookups only).
 *
 * # Safety
 * `charset` valid for `charset_len`.
 */
bool awss3_key_ranges_listable(const char *charset, size_t charset_len, bool binary);

/**
 * The optimizer's cost of a full scan of `rows` rows, in S3 requests.
 */
double awss3_scan_cost(double rows);

/**
 * The optimizer's cost of reading `rows` rows through `ranges` key ranges.
 */
double awss3_read_cost(uint64_t ranges, uint64_t rows);

/**
 * The rows a key range that is not one key value is taken to hold, of a
 * table of `records` rows.
 */
uint64_t awss3_range_rows(uint64_t records);

/**
 * Starts the handler's progress report, `expected` rows: the first report
 * to make (`done`, `total`). The shim calls it only when the statement's
 * progress is free (the first operation to report owns it).
 *
 * # Safety
 * `t` valid or null (then nothing is reported); out-params writable.
 */
bool awss3_progress_start(struct Awss3Table *t, uint64_t expected, uint64_t *done, uint64_t *total);

/**
 * One more row of the handler's operation: true with the report to make
 * now (`done`, `total`), false when there is none to make.
 *
 * # Safety
 * `t` valid or null; out-params writable.
 */
bool awss3_progress_step(struct Awss3Table *t, uint64_t *done, uint64_t *total);

/**
 * The handler's operation ends: whether it owned the statement's progress
 * (then the shim ends it).
 *
 * # Safety
 * `t` valid or null.
 */
bool awss3_progress_stop(struct Awss3Table *t);

/**
 * One lookup by key (not batched) in statement `query`: true, with the note
 * to push (valid until the next call), once per statement after enough of
 * them when `batchable` (a SELECT the server could batch and does not).
 *
 * # Safety
 * `t` valid or null; out-params writable.
 */
bool awss3_lookup_note(struct Awss3Table *t,
                       uint64_t query,
                       bool batchable,
                       const char **msg,
                       size_t *len);

/**
 * The row last returned does not fit its columns (`why`, from the shim):
 * 0 when it is to be skipped (a warning is queued: `awss3_take_warning`),
 * else `AWSS3_ERROR_ENGINE` with the message naming the object. The core
 * decides, with the setting the read that produced the row started with.
 *
 * # Safety
 * `t` valid; `why` valid for `why_len`.
 */
int32_t awss3_row_malformed(struct Awss3Table *t, const char *why, size_t why_len);

/**
 * Starts a batch of point reads (multi-range read) of the columns in
 * `needed`; `window` receives how many keys may be queued at once.
 *
 * # Safety
 * `t` valid; `needed` has `n` entries; `window` writable.
 */
int32_t awss3_batch_start(struct Awss3Table *t, const bool *needed_cols, size_t n, size_t *window);

/**
 * Queues the read of the row with this key value; its request starts now.
 *
 * # Safety
 * `t` valid; `key` valid for `key_len`.
 */
int32_t awss3_batch_push(struct Awss3Table *t, const uint8_t *key, size_t key_len);

/**
 * The answer for the oldest queued key: 0 and cells when its row exists,
 * `HA_ERR_KEY_NOT_FOUND` when it does not, `HA_ERR_END_OF_FILE` when no key
 * is queued.
 *
 * # Safety
 * `t` valid; out-params writable.
 */
int32_t awss3_batch_next(struct Awss3Table *t, const struct Awss3Cell **cells, size_t *ncells);

/**
 * Ends the batch; stops the reads still in flight.
 *
 * # Safety
 * `t` must be a valid table or null.
 */
void awss3_batch_end(struct Awss3Table *t);

/**
 * A multi-row INSERT starts: `rows` the rows it says it inserts (0: not
 * said), `one_by_one` whether it needs each row's outcome before the next
 * (see `insert.rs`). `concurrent` receives whether its rows are written
 * concurrently, up to `awss3_prefetch_window` at a time (then
 * `awss3_bulk_end` waits for them).
 *
 * # Safety
 * `t` must be a valid table; `concurrent` writable.
 */
int32_t awss3_bulk_begin(struct Awss3Table *t, uint64_t rows, bool one_by_one, bool *concurrent);

/**
 * A DELETE of several rows starts: `awss3_delete` then queues each row's
 * DELETE, sent up to the window at a time; `awss3_bulk_end` waits for them.
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_bulk_delete_begin(struct Awss3Table *t);

/**
 * An UPDATE of several rows starts (`start_bulk_update`): rows that keep
 * their key are written concurrently until `awss3_bulk_end`.
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_bulk_update_begin(struct Awss3Table *t);

/**
 * Waits for the rows of a multi-row INSERT, DELETE or UPDATE: 0, or the first failure
 * (`AWSS3_ERROR_DUP_KEY_DEFERRED` for a duplicate key).
 *
 * # Safety
 * `t` must be a valid table.
 */
int32_t awss3_bulk_end(struct Awss3Table *t);

/**
 * INSERT one row (`HA_ERR_FOUND_DUPP_KEY` when the key exists).
 *
 * # Safety
 * `cells` has `n` valid cells.
 */
int32_t awss3_insert(struct Awss3Table *t, const struct Awss3Cell *cells, size_t n);

/**
 * UPDATE the row read with key `old_key` and values `old_cells` to `cells`
 * (`HA_ERR_RECORD_CHANGED` when another writer changed it meanwhile;
 * `HA_ERR_RECORD_IS_THE_SAME`, and no request, when nothing changes).
 *
 * # Safety
 * Buffers valid for their lengths.
 */
int32_t awss3_update(struct Awss3Table *t,
                     const uint8_t *old_key,
                     size_t old_key_len,
                     const struct Awss3Cell *old_cells,
                     size_t old_n,
                     const struct Awss3Cell *cells,
                     size_t n);

/**
 * DELETE the row with this key.
 *
 * # Safety
 * Buffers valid for their lengths.
 */
int32_t awss3_delete(struct Awss3Table *t, const uint8_t *key, size_t key_len);

/**
 * Takes the next condition the last calls produced (skipped objects,
 * notices): true with its text and whether it is a note (not escalated by
 * strict mode), or false when there is none.
 *
 * # Safety
 * `t` valid; out-params writable. The text is valid until the next call.
 */
bool awss3_take_warning(struct Awss3Table *t, const char **msg, size_t *len, bool *is_note);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* AWSS3_H */
