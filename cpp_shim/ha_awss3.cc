/* Copyright (c) 2026 the AWSS3 authors. GPL-2.0-only.

   AWSS3: a MariaDB storage engine that keeps one S3 object per row.

   Object layout
   -------------
   A table lives at s3://BUCKET/PREFIX: from CONNECTION='s3://BUCKET/PREFIX',
   from CONNECTION='SERVER/PREFIX' (CREATE SERVER ... FOREIGN DATA WRAPPER
   awss3: HOST endpoint, DATABASE bucket, USER/PASSWORD keys, SOCKET region),
   or, without CONNECTION, s3://<awss3_bucket>/<database>/<table>/ (recorded
   at CREATE in <datadir>/<db>/<table>.awss3, so that it does not move when
   awss3_bucket changes or the table is renamed, and so that DROP TABLE knows
   to delete it). Setting a CONNECTION takes the FILE privilege.

     object key   = PREFIX + the primary key value (UTF-8, verbatim)
     object body  = RAW:  the one value column's bytes (NULL: empty body and
                          user metadata awss3-null=1)
                    JSON: {"column": value, ...} for the value columns
     metadata     = S3_META='name' columns as x-amz-meta-name
     Content-Type = the S3_ATTR='content_type' column
     size, last_modified, etag: S3_ATTR columns filled from S3, read-only

   This file is the whole C++ side. It holds no storage logic: each handler
   method turns the server's record into neutral cells (Field API), calls one
   function of the Rust core (awss3.h) and maps the result. The secret system
   variables are masked: the server only ever holds "*****" for them.
*/

#define MYSQL_SERVER 1
#include "ha_awss3.h"

#include "my_global.h"
#include "mysql/plugin.h"
#include "sql_class.h"
#include "sql_table.h"
#include "key.h"
#include "field.h"
#include "mysql/service_progress_report.h"
#include "sql_servers.h"
#include "sql_acl.h"
#include <unistd.h>
#include "discover.h"

#include <cmath>
#include <string>
#include <vector>

/* The codes the core returns (exported from src/ffi.rs) are the server's
   (my_base.h): a server whose numbers moved fails to build the plugin. */
static_assert(AWSS3_HA_ERR_KEY_NOT_FOUND == HA_ERR_KEY_NOT_FOUND, "HA_ERR_KEY_NOT_FOUND");
static_assert(AWSS3_HA_ERR_FOUND_DUPP_KEY == HA_ERR_FOUND_DUPP_KEY, "HA_ERR_FOUND_DUPP_KEY");
static_assert(AWSS3_HA_ERR_RECORD_CHANGED == HA_ERR_RECORD_CHANGED, "HA_ERR_RECORD_CHANGED");
static_assert(AWSS3_HA_ERR_END_OF_FILE == HA_ERR_END_OF_FILE, "HA_ERR_END_OF_FILE");
static_assert(AWSS3_HA_ERR_RECORD_IS_THE_SAME == HA_ERR_RECORD_IS_THE_SAME,
              "HA_ERR_RECORD_IS_THE_SAME");
static_assert(AWSS3_HA_ERR_TABLE_READONLY == HA_ERR_TABLE_READONLY, "HA_ERR_TABLE_READONLY");
static_assert(AWSS3_HA_ERR_ABORTED_BY_USER == HA_ERR_ABORTED_BY_USER, "HA_ERR_ABORTED_BY_USER");
static_assert(AWSS3_ERROR_ENGINE > HA_ERR_LAST, "engine code outside HA_ERR range");

static handlerton *awss3_hton;

/* ---------------------------------------------------------------- options */

struct ha_table_option_struct
{
  bool readonly;
  uint format;                       /* AWSS3_FORMAT_*: AUTO, RAW, JSON */
};

struct ha_field_option_struct
{
  uint s3_attr;                      /* 0: none; else AWSS3_ATTR_* + 1 */
  const char *s3_meta;
};

static ha_create_table_option awss3_table_options[]=
{
  HA_TOPTION_BOOL("READONLY", readonly, 0),
  HA_TOPTION_ENUM("FORMAT", format, "AUTO,RAW,JSON", 0),
  HA_TOPTION_END
};

static ha_create_table_option awss3_field_options[]=
{
  HA_FOPTION_ENUM("S3_ATTR", s3_attr, "NONE,SIZE,LAST_MODIFIED,ETAG,CONTENT_TYPE", 0),
  HA_FOPTION_STRING("S3_META", s3_meta),
  HA_FOPTION_END
};

/* ------------------------------------------------------ system variables */

static char *awss3_endpoint, *awss3_region, *awss3_bucket, *awss3_access_key_id;
static char *awss3_secret_access_key, *awss3_session_token;
static ulong awss3_prefetch_window, awss3_max_retries, awss3_request_timeout;
static my_bool awss3_skip_malformed;
static my_bool awss3_discovery;
static my_bool awss3_last_writer_wins;
static ulong awss3_definition_check_interval;
static ulonglong awss3_row_cache_size, awss3_scan_memory;

static const char MASKED[]= "*****";
static const char EMPTY[]= "";

/* Hands every setting to the core in one struct (awss3.h). The secrets go
   only when given (`secret`, `token`): they live in the core alone, the
   variables show a mask. */
static char *awss3_catalog_key;

static void push_settings(const char *secret, const char *token,
                          const char *catalog_key= NULL)
{
  auto str= [](const char *v, const char **p, size_t *n) {
    *p= v ? v : "";
    *n= strlen(*p);
  };
  Awss3Settings st;
  str(awss3_endpoint, &st.endpoint, &st.endpoint_len);
  str(awss3_region, &st.region, &st.region_len);
  str(awss3_bucket, &st.bucket, &st.bucket_len);
  str(awss3_access_key_id, &st.access_key_id, &st.access_key_id_len);
  st.secret_access_key= secret;
  st.secret_access_key_len= secret ? strlen(secret) : 0;
  st.session_token= token;
  st.session_token_len= token ? strlen(token) : 0;
  st.prefetch_window= awss3_prefetch_window;
  st.max_retries= awss3_max_retries;
  st.request_timeout= awss3_request_timeout;
  st.skip_malformed= awss3_skip_malformed;
  st.discovery= awss3_discovery;
  st.last_writer_wins= awss3_last_writer_wins;
  st.definition_check_interval= awss3_definition_check_interval;
  st.catalog_key= catalog_key;
  st.catalog_key_len= catalog_key ? strlen(catalog_key) : 0;
  st.row_cache_size= awss3_row_cache_size;
  st.scan_memory= awss3_scan_memory;
  if (awss3_settings_set(&st))
  {
    const char *msg; size_t len;
    awss3_last_error(&msg, &len);
    sql_print_error("AWSS3: settings not applied: %.*s", (int) len, msg);
  }
}

/* Plain string settings are PLUGIN_VAR_MEMALLOC: the variable owns a copy of
   any length (the server frees it at unload). An update function replaces
   the copy itself; the server holds LOCK_global_system_variables around
   both SET GLOBAL and SHOW VARIABLES, so no reader sees the old one freed. */
static void update_str(MYSQL_THD, struct st_mysql_sys_var *, void *var_ptr,
                       const void *save)
{
  const char *v= *static_cast<const char *const *>(save);
  char **var= static_cast<char **>(var_ptr);
  char *old= *var;
  *var= v ? my_strdup(PSI_NOT_INSTRUMENTED, v, MYF(MY_WME)) : NULL;
  my_free(old);
  push_settings(NULL, NULL);
}

/* Secrets go to the core; the variable itself only shows the mask (a static
   string: these variables are not MEMALLOC). */
static void update_secret(MYSQL_THD, struct st_mysql_sys_var *, void *var_ptr,
                          const void *save)
{
  const char *v= *static_cast<const char *const *>(save);
  push_settings(v ? v : "", NULL);
  *static_cast<const char **>(var_ptr)= (v && *v) ? MASKED : EMPTY;
}

static void update_token(MYSQL_THD, struct st_mysql_sys_var *, void *var_ptr,
                         const void *save)
{
  const char *v= *static_cast<const char *const *>(save);
  push_settings(NULL, v ? v : "");
  *static_cast<const char **>(var_ptr)= (v && *v) ? MASKED : EMPTY;
}

static void update_ulong(MYSQL_THD, struct st_mysql_sys_var *, void *var_ptr,
                         const void *save)
{
  *static_cast<ulong *>(var_ptr)= *static_cast<const ulong *>(save);
  push_settings(NULL, NULL);
}

static void update_bool(MYSQL_THD, struct st_mysql_sys_var *,
                                  void *var_ptr, const void *save)
{
  *static_cast<my_bool *>(var_ptr)= *static_cast<const my_bool *>(save);
  push_settings(NULL, NULL);
}

static MYSQL_SYSVAR_STR(endpoint, awss3_endpoint,
  PLUGIN_VAR_RQCMDARG | PLUGIN_VAR_MEMALLOC,
  "S3 endpoint URL (http://host:port for plain HTTP); empty: AWS S3 of awss3_region",
  NULL, update_str, "");
static MYSQL_SYSVAR_STR(region, awss3_region,
  PLUGIN_VAR_RQCMDARG | PLUGIN_VAR_MEMALLOC,
  "S3 region used for signing", NULL, update_str, "us-east-1");
/* With awss3_discovery the default bucket also holds the catalogue: moved
   while the server runs, every shared table would look dropped. Otherwise
   as the server's own check of a string (sql_plugin.cc check_func_str). */
static int check_bucket(MYSQL_THD thd, struct st_mysql_sys_var *, void *save,
                        struct st_mysql_value *value)
{
  if (awss3_discovery)
  {
    my_printf_error(ER_WRONG_ARGUMENTS, "AWSS3: awss3_bucket holds the catalogue "
                    "of shared tables while awss3_discovery=ON: change it in the "
                    "configuration of every server and restart them", MYF(0));
    return 1;
  }
  char buff[STRING_BUFFER_USUAL_SIZE];
  int length= sizeof(buff);
  const char *str= value->val_str(value, buff, &length);
  if (str)
    str= thd_strmake(thd, str, length);
  *static_cast<const char **>(save)= str;
  return 0;
}

static MYSQL_SYSVAR_STR(bucket, awss3_bucket,
  PLUGIN_VAR_RQCMDARG | PLUGIN_VAR_MEMALLOC,
  "Default bucket: tables without CONNECTION live at s3://<bucket>/<db>/<table>/ "
  "(with awss3_discovery, also the catalogue of shared tables: fixed at start)",
  check_bucket, update_str, "");
static MYSQL_SYSVAR_STR(access_key_id, awss3_access_key_id,
  PLUGIN_VAR_RQCMDARG | PLUGIN_VAR_MEMALLOC,
  "S3 access key id; empty: the AWS default credential chain",
  NULL, update_str, "");
static MYSQL_SYSVAR_STR(secret_access_key, awss3_secret_access_key,
  PLUGIN_VAR_RQCMDARG, "S3 secret access key (shown masked)",
  NULL, update_secret, "");
static MYSQL_SYSVAR_STR(session_token, awss3_session_token, PLUGIN_VAR_RQCMDARG,
  "S3 session token for temporary credentials (shown masked)",
  NULL, update_token, "");
static MYSQL_SYSVAR_ULONG(prefetch_window, awss3_prefetch_window,
  PLUGIN_VAR_RQCMDARG,
  "The most object requests one window keeps in flight (a scan, a batched "
  "read, a multi-row write): each starts where the last on its endpoint "
  "ended (at least 8) and doubles while its throughput grows, up to this, "
  "halving when the store throttles, within awss3_scan_memory",
  NULL, update_ulong, 256, 1, 1024, 0);
static MYSQL_SYSVAR_ULONG(max_retries, awss3_max_retries, PLUGIN_VAR_RQCMDARG,
  "Retries of a transient S3 failure (5xx, 429, timeout) before the statement fails",
  NULL, update_ulong, 3, 0, 100, 0);
static MYSQL_SYSVAR_ULONG(request_timeout, awss3_request_timeout,
  PLUGIN_VAR_RQCMDARG, "Seconds one S3 request attempt may take",
  NULL, update_ulong, 30, 1, 3600, 0);
static MYSQL_SYSVAR_BOOL(skip_malformed, awss3_skip_malformed,
  PLUGIN_VAR_OPCMDARG,
  "Skip objects whose body is not a valid row (with a warning) instead of failing",
  NULL, update_bool, FALSE);

/* Fixed at start: it decides whether the server asks the engine for tables
   it has no .frm of (the handlerton's discovery functions). */
static MYSQL_SYSVAR_BOOL(discovery, awss3_discovery,
  PLUGIN_VAR_OPCMDARG | PLUGIN_VAR_READONLY,
  "Share tables with every server configured with the same awss3_bucket: "
  "CREATE, ALTER, RENAME and DROP are recorded in a catalogue in that bucket "
  "(~awss3-catalog/), and tables created elsewhere are discovered",
  NULL, NULL, FALSE);
/* Fixed at start, shown masked: the secret that authenticates catalogue
   entries (an HMAC): without it, anyone who can write to the bucket could
   plant an entry that points a table at any objects. */
static MYSQL_SYSVAR_STR(catalog_key, awss3_catalog_key,
  PLUGIN_VAR_RQCMDARG | PLUGIN_VAR_READONLY,
  "With awss3_discovery: a secret every server sharing the bucket is "
  "configured with; catalogue entries are authenticated with it (HMAC-SHA256) "
  "and entries that do not verify are ignored. Required by awss3_discovery "
  "(shown masked)",
  NULL, NULL, "");
static MYSQL_SYSVAR_BOOL(last_writer_wins, awss3_last_writer_wins,
  PLUGIN_VAR_OPCMDARG,
  "With awss3_discovery, on a store that ignores conditional writes (Garage): "
  "OFF refuses writes to shared tables (two servers could both win one key); "
  "ON writes them anyway, the later write wins",
  NULL, update_bool, FALSE);
static MYSQL_SYSVAR_ULONG(definition_check_interval,
  awss3_definition_check_interval, PLUGIN_VAR_RQCMDARG,
  "With awss3_discovery: seconds a table's definition, once checked against "
  "the catalogue, is taken as current by later statements (0: every statement "
  "checks, one HEAD)",
  NULL, update_ulong, 1, 0, 86400, 0);

static void update_ulonglong(MYSQL_THD, struct st_mysql_sys_var *, void *var,
                             const void *save)
{
  *static_cast<ulonglong *>(var)= *static_cast<const ulonglong *>(save);
  push_settings(NULL, NULL);
}
static MYSQL_SYSVAR_ULONGLONG(row_cache_size, awss3_row_cache_size,
  PLUGIN_VAR_RQCMDARG,
  "Bytes of rows kept in memory for the next scan of an unchanged table: a scan "
  "takes a row from it when LIST shows the version it holds (same ETag, size "
  "and LastModified), instead of a GET (0: off)",
  NULL, update_ulonglong, 32ULL << 20, 0, ULONGLONG_MAX, 0);

static MYSQL_SYSVAR_ULONGLONG(scan_memory, awss3_scan_memory,
  PLUGIN_VAR_RQCMDARG,
  "The most bytes of bodies one window holds at once (fetched, in flight, "
  "waiting for their turn, or being written): its window shrinks to fit. A "
  "statement that reads and writes (UPDATE) has a window for each",
  NULL, update_ulonglong, 16ULL << 20, 1ULL << 16, ULONGLONG_MAX, 0);

/* Session and global: a DBA can cap what one statement may cost. */
static MYSQL_THDVAR_ULONGLONG(max_requests_per_statement, PLUGIN_VAR_RQCMDARG,
  "Most S3 requests one statement may send, retries included (0: no limit); "
  "a statement that would exceed it fails",
  NULL, NULL, 0, 0, ULONGLONG_MAX, 0);

static struct st_mysql_sys_var *awss3_system_variables[]=
{
  MYSQL_SYSVAR(endpoint),
  MYSQL_SYSVAR(region),
  MYSQL_SYSVAR(bucket),
  MYSQL_SYSVAR(access_key_id),
  MYSQL_SYSVAR(secret_access_key),
  MYSQL_SYSVAR(session_token),
  MYSQL_SYSVAR(prefetch_window),
  MYSQL_SYSVAR(max_retries),
  MYSQL_SYSVAR(request_timeout),
  MYSQL_SYSVAR(skip_malformed),
  MYSQL_SYSVAR(max_requests_per_statement),
  MYSQL_SYSVAR(discovery),
  MYSQL_SYSVAR(definition_check_interval),
  MYSQL_SYSVAR(catalog_key),
  MYSQL_SYSVAR(last_writer_wins),
  MYSQL_SYSVAR(row_cache_size),
  MYSQL_SYSVAR(scan_memory),
  NULL
};

/* Hands the start-up values to the core and masks the secrets. */
static void push_all_settings()
{
  push_settings(awss3_secret_access_key ? awss3_secret_access_key : "",
                awss3_session_token ? awss3_session_token : "",
                awss3_catalog_key ? awss3_catalog_key : "");
  awss3_catalog_key= const_cast<char *>(
    awss3_catalog_key && *awss3_catalog_key ? MASKED : EMPTY);
  awss3_secret_access_key= const_cast<char *>(
    awss3_secret_access_key && *awss3_secret_access_key ? MASKED : EMPTY);
  awss3_session_token= const_cast<char *>(
    awss3_session_token && *awss3_session_token ? MASKED : EMPTY);
}

/* ------------------------------------------------------ status variables */

static Awss3Counters counters;

static SHOW_VAR awss3_counter_vars[]=
{
  {"get_requests", (char *) &counters.get_requests, SHOW_ULONGLONG},
  {"head_requests", (char *) &counters.head_requests, SHOW_ULONGLONG},
  {"put_requests", (char *) &counters.put_requests, SHOW_ULONGLONG},
  {"list_requests", (char *) &counters.list_requests, SHOW_ULONGLONG},
  {"delete_requests", (char *) &counters.delete_requests, SHOW_ULONGLONG},
  {"retries", (char *) &counters.retries, SHOW_ULONGLONG},
  {"errors", (char *) &counters.errors, SHOW_ULONGLONG},
  {"bytes_received", (char *) &counters.bytes_received, SHOW_ULONGLONG},
  {"bytes_sent", (char *) &counters.bytes_sent, SHOW_ULONGLONG},
  {"endpoint_failovers", (char *) &counters.endpoint_failovers, SHOW_ULONGLONG},
  {"row_cache_hits", (char *) &counters.row_cache_hits, SHOW_ULONGLONG},
  {"row_cache_misses", (char *) &counters.row_cache_misses, SHOW_ULONGLONG},
  {"row_cache_bytes", (char *) &counters.row_cache_bytes, SHOW_ULONGLONG},
  {"row_cache_rows", (char *) &counters.row_cache_rows, SHOW_ULONGLONG},
  {"throttled", (char *) &counters.throttled, SHOW_ULONGLONG},
  {"window", (char *) &counters.window, SHOW_ULONGLONG},
  {NullS, NullS, SHOW_LONG}
};

static int show_awss3_counters(MYSQL_THD, SHOW_VAR *var, void *,
                               system_status_var *, enum_var_type)
{
  awss3_counters_get(&counters);
  var->type= SHOW_ARRAY;
  var->value= (char *) awss3_counter_vars;
  return 0;
}

static SHOW_VAR awss3_status_variables[]=
{
  {"Awss3", (char *) &show_awss3_counters, SHOW_FUNC},
  {NullS, NullS, SHOW_LONG}
};

/* ------------------------------------------------------------ handlerton */

/* The request budget of the statement a connection runs, shared by every
   AWSS3 table the statement uses (thd_get_ha_data: one per connection). */
struct Awss3_thd_budget
{
  query_id_t query= 0;
  Awss3Budget *budget= nullptr;
};

static Awss3Budget *statement_budget(THD *thd)
{
  ulonglong limit= THDVAR(thd, max_requests_per_statement);
  /* Replication applies what the primary already ran: not capped here. */
  if (!limit || thd->slave_thread)
    return nullptr;
  auto *b= static_cast<Awss3_thd_budget *>(thd_get_ha_data(thd, awss3_hton));
  if (!b)
  {
    b= new Awss3_thd_budget();
    thd_set_ha_data(thd, awss3_hton, b);
  }
  /* A trigger's or stored function's statement has a query id of its own
     but is part of the top statement: it charges the same budget. */
  if (thd->in_sub_stmt && b->budget)
    return b->budget;
  if (b->query != thd->query_id || !b->budget)
  {
    awss3_budget_free(b->budget);
    b->budget= awss3_budget_new(limit);
    b->query= thd->query_id;
  }
  return b->budget;
}

static int awss3_close_connection(handlerton *, THD *thd)
{
  auto *b= static_cast<Awss3_thd_budget *>(thd_get_ha_data(thd, awss3_hton));
  if (b)
  {
    awss3_budget_free(b->budget);
    delete b;
    thd_set_ha_data(thd, awss3_hton, NULL);
  }
  return 0;
}

static handler *awss3_create_handler(handlerton *hton, TABLE_SHARE *table,
                                     MEM_ROOT *mem_root)
{
  return new (mem_root) ha_awss3(hton, table);
}

static int awss3_discover_table(handlerton *, THD *thd, TABLE_SHARE *share);
static int awss3_discover_table_names(handlerton *, LEX_CSTRING *db, MY_DIR *,
                                      handlerton::discovered_list *result);
static int awss3_discover_table_existence(handlerton *, const char *db,
                                          const char *table_name);

static int awss3_init_func(void *p)
{
  awss3_hton= static_cast<handlerton *>(p);
  awss3_hton->create= awss3_create_handler;
  /* No HTON_CAN_RECREATE: TRUNCATE must delete the objects (delete_all_rows),
     not re-run create() without the CONNECTION. */
  /* No partitioning: partitions would share the table's location. */
  awss3_hton->flags= HTON_NO_PARTITION;
  awss3_hton->close_connection= awss3_close_connection;
  awss3_hton->table_options= awss3_table_options;
  awss3_hton->field_options= awss3_field_options;
  /* With awss3_discovery the server asks the engine for tables it has no
     .frm of, and no longer writes one at CREATE (create() does). Entries of
     the shared bucket are acted on only when authenticated: no key, no
     sharing (a loud refusal, not tables silently left unshared). */
  if (awss3_discovery && !(awss3_catalog_key && *awss3_catalog_key))
  {
    sql_print_error("AWSS3: awss3_discovery=ON needs awss3_catalog_key: a secret "
                    "every server sharing the bucket is configured with, which "
                    "authenticates the catalogue's entries");
    return 1;
  }
  if (awss3_discovery)
  {
    awss3_hton->discover_table= awss3_discover_table;
    awss3_hton->discover_table_names= awss3_discover_table_names;
    awss3_hton->discover_table_existence= awss3_discover_table_existence;
  }
  if (awss3_init())
  {
    const char *msg; size_t len;
    awss3_last_error(&msg, &len);
    sql_print_error("AWSS3: %.*s", (int) len, msg);
    return 1;
  }
  push_all_settings();
  return 0;
}

static int awss3_done_func(void *)
{
  /* Joins the core's threads and closes its sockets. */
  awss3_shutdown();
  return 0;
}

/* ---------------------------------------------------- table definitions */

/* The neutral kind the core stores a field's values as. */
static int cell_kind(const Field *f)
{
  switch (f->real_type())
  {
  case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_INT24:
  case MYSQL_TYPE_LONG: case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
    return (f->flags & UNSIGNED_FLAG) ? AWSS3_CELL_UINT : AWSS3_CELL_INT;
  case MYSQL_TYPE_BIT:
    return AWSS3_CELL_UINT;
  case MYSQL_TYPE_FLOAT:
    return AWSS3_CELL_FLOAT;
  case MYSQL_TYPE_DOUBLE:
    return AWSS3_CELL_DOUBLE;
  case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL:
    return AWSS3_CELL_NUMBER;
  case MYSQL_TYPE_DATE: case MYSQL_TYPE_NEWDATE: case MYSQL_TYPE_TIME:
  case MYSQL_TYPE_TIME2: case MYSQL_TYPE_DATETIME: case MYSQL_TYPE_DATETIME2:
  case MYSQL_TYPE_TIMESTAMP: case MYSQL_TYPE_TIMESTAMP2:
    return AWSS3_CELL_TEMPORAL;
  case MYSQL_TYPE_ENUM: case MYSQL_TYPE_SET:
    return AWSS3_CELL_TEXT;
  default:
    return f->charset() == &my_charset_bin ? AWSS3_CELL_BYTES : AWSS3_CELL_TEXT;
  }
}

/* The most bytes the core's text of one value of `f` can take (text as
   UTF-8: as many bytes for utf8 columns, up to 4 per byte for others), at
   most max_allowed_packet. */
static ulonglong value_max_bytes(const Field *f)
{
  ulonglong n;
  if (f->flags & BLOB_FLAG)
    n= static_cast<const Field_blob *>(f)->max_data_length();
  else
    n= f->field_length;
  CHARSET_INFO *cs= f->charset();
  if (cs != &my_charset_bin && strncmp(cs->cs_name.str, "utf8", 4))
    n*= 4;
  return MY_MIN(MY_MAX(n, 64ULL), (ulonglong) global_system_variables.max_allowed_packet);
}

/* A table definition in the core's terms; owns nothing but the column array. */
/* The CREATE SERVER a CONNECTION ('name' or 'name/prefix') names, copied out
   of the server's cache of mysql.servers; the core decides what it means. */
struct Server_def
{
  std::string name, wrapper, host, database, user, password, socket;
  Awss3Server srv;

  /* False when the connection is an s3:// URL or names no existing server. */
  bool lookup(const LEX_CSTRING &connection)
  {
    if (!connection.length ||
        (connection.length >= 5 && !strncmp(connection.str, "s3://", 5)))
      return false;
    const char *slash= (const char *) memchr(connection.str, '/', connection.length);
    std::string want(connection.str,
                     slash ? (size_t) (slash - connection.str) : connection.length);
    MEM_ROOT mem;
    init_alloc_root(PSI_NOT_INSTRUMENTED, &mem, 1024, 0, MYF(0));
    FOREIGN_SERVER buf, *fs= get_server_by_name(&mem, want.c_str(), &buf);
    if (fs)
    {
      auto str= [](const char *p) { return std::string(p ? p : ""); };
      name= want;
      wrapper= str(fs->scheme);
      host= str(fs->host);
      database= str(fs->db);
      user= str(fs->username);
      password= str(fs->password);
      socket= str(fs->socket);
      srv.port= fs->port;
    }
    free_root(&mem, MYF(0));
    if (!fs)
      return false;
    srv.name= name.data(); srv.name_len= name.size();
    srv.wrapper= wrapper.data(); srv.wrapper_len= wrapper.size();
    srv.host= host.data(); srv.host_len= host.size();
    srv.database= database.data(); srv.database_len= database.size();
    srv.user= user.data(); srv.user_len= user.size();
    srv.password= password.data(); srv.password_len= password.size();
    srv.socket= socket.data(); srv.socket_len= socket.size();
    return true;
  }
};

struct Table_def
{
  std::vector<Awss3Column> columns;
  Server_def server;
  Awss3TableDef def;

  Table_def(TABLE_SHARE *s, const char *path, const LEX_CSTRING &connection)
  {
    uint key_field= s->keys ? s->key_info[0].key_part[0].fieldnr - 1 : ~0U;
    for (uint i= 0; i < s->fields; i++)
    {
      Field *f= s->field[i];
      ha_field_option_struct *o= f->option_struct;
      Awss3Column c;
      c.name= f->field_name.str;
      c.name_len= f->field_name.length;
      c.role= AWSS3_ROLE_VALUE;
      c.attr= 0;
      c.meta= NULL;
      c.meta_len= 0;
      if (i == key_field)
        c.role= AWSS3_ROLE_KEY;
      else if (o && o->s3_attr)
      {
        c.role= AWSS3_ROLE_ATTR;
        c.attr= (int) o->s3_attr - 1;
      }
      else if (o && o->s3_meta)
      {
        c.role= AWSS3_ROLE_META;
        c.meta= o->s3_meta;
        c.meta_len= strlen(o->s3_meta);
      }
      /* VIRTUAL generated columns are the server's to compute: not in the
         object (STORED ones are stored, as their name says). */
      if (i != key_field && !f->stored_in_db())
        c.role= AWSS3_ROLE_COMPUTED;
      c.kind= cell_kind(f);
      c.nullable= f->real_maybe_null();
      c.max_bytes= value_max_bytes(f);
      columns.push_back(c);
    }
    ha_table_option_struct *opts= s->option_struct;
    def.path= path;
    def.path_len= strlen(path);
    def.db= s->db.str;
    def.db_len= s->db.length;
    def.name= s->table_name.str;
    def.name_len= s->table_name.length;
    def.connection= connection.str;
    def.connection_len= connection.length;
    def.format= opts ? (int) opts->format : AWSS3_FORMAT_AUTO;
    def.read_only= opts && opts->readonly;
    CHARSET_INFO *cs= key_field < s->fields ? s->field[key_field]->charset()
                                             : &my_charset_bin;
    def.key_pad_space= cs != &my_charset_bin && !(cs->state & MY_CS_NOPAD);
    def.columns= columns.data();
    def.ncolumns= columns.size();
    def.frm= NULL;
    def.frm_len= 0;
    def.version= NULL;
    def.version_len= 0;
    def.server= server.lookup(connection) ? &server.srv : NULL;
  }
  Table_def(const Table_def &)= delete;
};

/* The schema rules S3 imposes, checked at CREATE TABLE. */
static bool check_schema(TABLE_SHARE *s)
{
  if (s->keys != 1 || s->primary_key != 0 ||
      s->key_info[0].user_defined_key_parts != 1)
  {
    my_printf_error(ER_WRONG_KEY_COLUMN,
      "AWSS3 tables need exactly one index: a PRIMARY KEY on one string "
      "column (the object key); other indexes are not supported", MYF(0));
    return true;
  }
  Field *k= s->key_info[0].key_part[0].field;
  if (s->key_info[0].key_part[0].length < k->key_length())
  {
    my_printf_error(ER_WRONG_KEY_COLUMN,
      "AWSS3: the PRIMARY KEY must cover the whole column `%s` (the object "
      "key is the full value), not a prefix of it", MYF(0), k->field_name.str);
    return true;
  }
  enum_field_types t= k->real_type();
  if (t != MYSQL_TYPE_VARCHAR && t != MYSQL_TYPE_STRING &&
      t != MYSQL_TYPE_VAR_STRING)
  {
    my_printf_error(ER_WRONG_KEY_COLUMN,
      "AWSS3: the PRIMARY KEY column `%s` must be VARCHAR, CHAR, VARBINARY "
      "or BINARY (it is the S3 object key)", MYF(0), k->field_name.str);
    return true;
  }
  CHARSET_INFO *cs= k->charset();
  if (cs != &my_charset_bin && !(cs->state & MY_CS_BINSORT))
  {
    my_printf_error(ER_WRONG_KEY_COLUMN,
      "AWSS3: the PRIMARY KEY column `%s` has collation %s, which is not "
      "byte-exact, but S3 keys compare bytes: use COLLATE %s_bin "
      "(or %s_nopad_bin, or VARBINARY)", MYF(0), k->field_name.str,
      cs->coll_name.str, cs->cs_name.str, cs->cs_name.str);
    return true;
  }
  ha_field_option_struct *ko= k->option_struct;
  if (ko && (ko->s3_attr || ko->s3_meta))
  {
    my_printf_error(ER_WRONG_FIELD_SPEC,
      "AWSS3: the PRIMARY KEY column `%s` cannot have S3_ATTR or S3_META",
      MYF(0), k->field_name.str);
    return true;
  }
  for (uint i= 0; i < s->fields; i++)
  {
    Field *f= s->field[i];
    ha_field_option_struct *o= f->option_struct;
    if (o && o->s3_attr && o->s3_meta)
    {
      my_printf_error(ER_WRONG_FIELD_SPEC,
        "AWSS3: column `%s` cannot have both S3_ATTR and S3_META", MYF(0),
        f->field_name.str);
      return true;
    }
  }
  return false;
}

/* ---------------------------------------------------------------- handler */

ha_awss3::ha_awss3(handlerton *hton, TABLE_SHARE *table_arg)
  : handler(hton, table_arg)
{
  /* position(): 2-byte length + the key value. */
  ref_length= 2 + AWSS3_MAX_KEY_BYTES;
}

ha_awss3::~ha_awss3()
{
  awss3_table_free(core);
}

ulonglong ha_awss3::table_flags() const
{
  /* Not HA_SLOW_RND_POS: with it the server copies tables with BLOB columns
     into a temporary table for any ORDER BY, so ORDER BY k LIMIT n could no
     longer read n rows in key order; it would read them all. */
  return HA_NO_TRANSACTIONS | HA_REC_NOT_IN_SEQ | HA_NO_AUTO_INCREMENT |
         HA_CAN_BIT_FIELD | HA_CAN_GEOMETRY | HA_REQUIRE_PRIMARY_KEY |
         HA_PRIMARY_KEY_REQUIRED_FOR_POSITION | HA_BINLOG_ROW_CAPABLE |
         HA_BINLOG_STMT_CAPABLE |
         /* VIRTUAL columns are computed by the server, never stored
            (AWSS3_ROLE_COMPUTED); STORED ones are value columns. */
         HA_CAN_VIRTUAL_COLUMNS |
         /* A DELETE of several rows sends them up to the window at a time
            (start_bulk_delete), an UPDATE's writes likewise
            (start_bulk_update). */
         HA_CAN_FORCE_BULK_DELETE | HA_CAN_FORCE_BULK_UPDATE;
}

Awss3_share *ha_awss3::get_share()
{
  Awss3_share *s;
  lock_shared_ha_data();
  if (!(s= static_cast<Awss3_share *>(get_ha_share_ptr())))
  {
    s= new Awss3_share;
    set_ha_share_ptr(static_cast<Handler_share *>(s));
  }
  unlock_shared_ha_data();
  return s;
}

/* Error and warning texts are utf8mb3 in the server: characters outside it
   (emoji in a key, say) become '?' instead of cutting the message short. */
static void set_message(String *to, const char *msg, size_t len)
{
  uint errors;
  to->copy(msg, len, &my_charset_utf8mb4_bin, &my_charset_utf8mb3_general_ci,
           &errors);
}

/* Keeps the core's message of a failed call for print_error(). */
int ha_awss3::fail(int rc)
{
  if (rc == AWSS3_ERROR_ENGINE || rc == AWSS3_ERROR_DUP_KEY_DEFERRED)
  {
    const char *msg; size_t len;
    awss3_last_error(&msg, &len);
    set_message(&last_error, msg, len);
  }
  return rc;
}

void ha_awss3::print_error(int error, myf errflag)
{
  if (error && error == mrr_printed_error)
  {
    mrr_printed_error= 0;
    return;
  }
  mrr_printed_error= 0;
  if (error == AWSS3_ERROR_ENGINE)
  {
    my_printf_error(ER_GET_ERRMSG, "AWSS3: %s", errflag, last_error.c_ptr_safe());
    return;
  }
  if (error == AWSS3_ERROR_DUP_KEY_DEFERRED)
  {
    /* The duplicate's row is not the current record: name its key. */
    my_printf_error(ER_DUP_ENTRY, ER_THD(ha_thd(), ER_DUP_ENTRY_WITH_KEY_NAME),
                    errflag, last_error.c_ptr_safe(), table->key_info[0].name.str);
    return;
  }
  handler::print_error(error, errflag);
}

bool ha_awss3::get_error_message(int error, String *buf)
{
  if (error == AWSS3_ERROR_ENGINE)
    buf->copy(last_error);
  return false;
}

uint ha_awss3::push_core_warnings()
{
  const char *msg; size_t len; bool note;
  String text;
  uint pushed= 0;
  while (core && awss3_take_warning(core, &msg, &len, &note))
  {
    pushed++;
    set_message(&text, msg, len);
    push_warning_printf(ha_thd(), note ? Sql_condition::WARN_LEVEL_NOTE
                                       : Sql_condition::WARN_LEVEL_WARN,
                        ER_GET_ERRMSG, "%s", text.c_ptr_safe());
  }
  return pushed;
}

/* The core's progress reports from long waits (TRUNCATE, counts): a no-op
   unless the statement's progress was started (thd_progress_report checks). */
static void statement_progress(const void *thd, uint64_t done, uint64_t total)
{
  thd_progress_report(static_cast<THD *>(const_cast<void *>(thd)), done, total);
}

/* The core's way to learn that the statement it waits for was killed. */
static bool statement_killed(const void *thd)
{
  return thd && thd_killed(static_cast<const THD *>(thd));
}


/* ------------------------------------------------------ table discovery */

/* A table's name as the core takes it (the server's names, not file
   names), from a path such as ./db/t (file names: decoded). */
struct Table_name
{
  char db[NAME_LEN + 1], table[NAME_LEN + 1];
  Awss3TableName name;
  Table_name(const char *db_name, size_t db_len, const char *table_name,
             size_t table_len)
  {
    name.db= db_name;
    name.db_len= db_len;
    name.table= table_name;
    name.table_len= table_len;
  }
  explicit Table_name(const char *path)
  {
    char buf[FN_REFLEN];
    strmake(buf, path, sizeof(buf) - 1);
    char *t= strrchr(buf, FN_LIBCHAR);
    const char *tbl= t ? t + 1 : buf;
    if (t)
      *t= 0;
    char *d= strrchr(buf, FN_LIBCHAR);
    const char *dbf= d ? d + 1 : buf;
    /* Quietly: ALTER's internal names (#sql-...) are no table names. */
    name.db_len= filename_to_tablename(dbf, db, sizeof(db), true);
    name.table_len= filename_to_tablename(tbl, table, sizeof(table), true);
    name.db= db;
    name.table= table;
  }
};

/* The definition id a .frm image carries (the first extra2 entry of type
   EXTRA2_TABLEDEF_VERSION, read as table.cc's read_extra2 does). */
static LEX_CUSTRING frm_version(const uchar *frm, size_t len)
{
  LEX_CUSTRING none= {NULL, 0};
  if (!frm || len < 64 + 2)
    return none;
  size_t extra2_len= uint2korr(frm + 4);
  const uchar *e= frm + 64, *end= e + extra2_len;
  if (end > frm + len || *e == '/')
    return none;
  while (e + 3 <= end)
  {
    uint type= *e++;
    size_t n= *e++;
    if (!n)
    {
      if (e + 2 >= end)
        return none;
      n= uint2korr(e);
      e+= 2;
    }
    if (e + n > end)
      return none;
    if (type == 0 /* EXTRA2_TABLEDEF_VERSION */)
    {
      LEX_CUSTRING v= {e, n};
      return v;
    }
    e+= n;
  }
  return none;
}

static void core_message(String *to)
{
  const char *msg; size_t len;
  awss3_last_error(&msg, &len);
  set_message(to, msg, len);
}

/* Tables in the mysql schema are never looked up in the catalogue: the
   server asks for them at start-up and often (ha_s3.cc does the same). */
static bool system_schema(const char *db)
{
  return !strcmp(db, MYSQL_SCHEMA_NAME.str);
}

static int awss3_discover_table(handlerton *, THD *thd, TABLE_SHARE *share)
{
  if (system_schema(share->db.str))
    return HA_ERR_NO_SUCH_TABLE;
  Table_name n(share->db.str, share->db.length, share->table_name.str,
               share->table_name.length);
  const uchar *frm; size_t len;
  int rc= awss3_catalog_discover(&n.name, share->normalized_path.str,
                                 share->normalized_path.length,
                                 statement_killed, thd, &frm, &len);
  if (rc == HA_ERR_KEY_NOT_FOUND)
    return HA_ERR_NO_SUCH_TABLE;
  if (rc == HA_ERR_ABORTED_BY_USER)
  {
    thd->send_kill_message();
    return HA_ERR_GENERIC;
  }
  if (rc)
  {
    String msg;
    core_message(&msg);
    my_printf_error(ER_GET_ERRMSG, "AWSS3: cannot discover `%s`.`%s`: %s", MYF(0),
                    share->db.str, share->table_name.str, msg.c_ptr_safe());
    return HA_ERR_GENERIC;
  }
  /* The image is the core's until its next call on this thread: the server
     copies it (and writes it as the local .frm). */
  return share->init_from_binary_frm_image(thd, true, frm, len);
}

/* What the catalogue listing of one database brings: its tables, and this
   server's tables that were shared (by file name). */
struct Catalogue_names
{
  std::vector<std::string> shared, here;
};

static void add_catalogue_name(void *arg, bool shared_here, const char *name,
                               size_t len)
{
  auto *n= static_cast<Catalogue_names *>(arg);
  (shared_here ? n->here : n->shared).emplace_back(name, len);
}

static int awss3_discover_table_names(handlerton *, LEX_CSTRING *db, MY_DIR *,
                                      handlerton::discovered_list *result)
{
  if (system_schema(db->str))
    return 0;
  THD *thd= current_thd;
  char dir[FN_REFLEN];
  size_t dir_len= build_table_filename(dir, sizeof(dir) - 1, db->str, "", "", 0);
  Catalogue_names n;
  if (awss3_catalog_names(db->str, db->length, dir, dir_len, statement_killed, thd,
                          add_catalogue_name, &n))
  {
    /* SHOW TABLES still lists this server's own tables: say what is missing. */
    String msg;
    core_message(&msg);
    if (thd)
      push_warning_printf(thd, Sql_condition::WARN_LEVEL_WARN, ER_GET_ERRMSG,
                          "AWSS3: tables of other servers are not listed: %s",
                          msg.c_ptr_safe());
    return 0;
  }
  /* The server's list holds the names its .frm files gave
     (ha_discover_table_names); the core says which catalogue names to add
     and which listed ones are stale (src/discovery.rs), given this server's
     shared tables as table names (their file names decoded). */
  Dynamic_array<LEX_CSTRING *> *tables=
    static_cast<Discovered_table_list *>(result)->tables;
  auto bytes= [](const char *p, size_t len) {
    Awss3Bytes b;
    b.data= (const uint8_t *) p;
    b.len= len;
    return b;
  };
  std::vector<Awss3Bytes> listed, shared, here;
  for (size_t i= 0; i < tables->elements(); i++)
    listed.push_back(bytes(tables->at(i)->str, tables->at(i)->length));
  for (const std::string &t : n.shared)
    shared.push_back(bytes(t.data(), t.size()));
  std::vector<std::string> here_names;
  for (const std::string &file : n.here)
  {
    char name[NAME_LEN + 1];
    size_t len= filename_to_tablename(file.c_str(), name, sizeof(name), true);
    here_names.emplace_back(name, len);
  }
  for (const std::string &t : here_names)
    here.push_back(bytes(t.data(), t.size()));
  /* DROP DATABASE drops what it lists: the rest of the directory must be
     files it knows (a stale table is dropped there). */
  bool dropping_db= thd && thd->lex && thd->lex->sql_command == SQLCOM_DROP_DB;
  std::vector<size_t> add(shared.size()), stale(listed.size());
  size_t nadd= 0, nstale= 0;
  if (awss3_discovery_changes(listed.data(), listed.size(), shared.data(),
                              shared.size(), here.data(), here.size(),
                              dropping_db, add.data(), &nadd, stale.data(),
                              &nstale))
    return 0;
  size_t before= tables->elements();
  for (size_t i= 0; i < nadd; i++)
    result->add_table(n.shared[add[i]].data(), n.shared[add[i]].size());
  /* The server de-duplicates the list when it shrank or grew
     (discover_names): the list is made to have grown (a duplicate of its
     first name, which that pass removes). The core never drops every
     name: that pass would leave one element of an empty list. */
  if (nstale)
  {
    for (size_t i= nstale; i-- > 0;)
      tables->del(stale[i]);
    /* By value: append() may move the array it would read from. */
    LEX_CSTRING *first= tables->at(0);
    while (tables->elements() <= before)
      tables->append(first);
  }
  return 0;
}

static int awss3_discover_table_existence(handlerton *, const char *db,
                                          const char *table_name)
{
  if (system_schema(db))
    return 0;
  /* A table with a local .frm is this server's: no request. */
  char path[FN_REFLEN];
  build_table_filename(path, sizeof(path) - 1, db, table_name, reg_ext, 0);
  if (!access(path, F_OK))
    return 1;
  Table_name n(db, strlen(db), table_name, strlen(table_name));
  bool found= false;
  THD *thd= current_thd;
  if (awss3_catalog_exists(&n.name, statement_killed, thd, &found))
    return 0;
  return found;
}

/* Whether this server's definition of the table is the catalogue's; when
   another server changed or dropped it, HA_ERR_TABLE_DEF_CHANGED (the
   server then discovers it again). A table never published is published. */
int ha_awss3::check_definition()
{
  TABLE_SHARE *s= table->s;
  if (!awss3_discovery || s->tmp_table != NO_TMP_TABLE || system_schema(s->db.str))
    return 0;
  Table_name n(s->db.str, s->db.length, s->table_name.str, s->table_name.length);
  Awss3Definition d= AWSS3_DEFINITION_SAME;
  if (awss3_catalog_check(&n.name, s->normalized_path.str, s->normalized_path.length,
                          s->tabledef_version.str, s->tabledef_version.length,
                          statement_killed, ha_thd(), &d))
    return 0;                   /* killed: the statement notices by itself */
  switch (d) {
  case AWSS3_DEFINITION_SAME:
    return 0;
  case AWSS3_DEFINITION_CHANGED:
    return HA_ERR_TABLE_DEF_CHANGED;
  case AWSS3_DEFINITION_UNPUBLISHED:
  {
    /* From the file: the share's own image (share->frm_image) belongs to an
       ALTER that may be running on it. */
    const uchar *frm; size_t len;
    if (readfrm(s->normalized_path.str, &frm, &len))
      return 0;
    int rc= awss3_catalog_publish(&n.name, s->normalized_path.str,
                                  s->normalized_path.length, s->tabledef_version.str,
                                  s->tabledef_version.length, frm, len, NULL, 0,
                                  statement_killed, ha_thd());
    my_free(const_cast<uchar *>(frm));
    if (rc)
    {
      String msg;
      core_message(&msg);
      push_warning_printf(ha_thd(), Sql_condition::WARN_LEVEL_WARN, ER_GET_ERRMSG,
                          "AWSS3: `%s`.`%s` is not shared with other servers: %s",
                          s->db.str, s->table_name.str, msg.c_ptr_safe());
    }
    return 0;
  }
  case AWSS3_DEFINITION_CONFLICT:
    push_warning_printf(ha_thd(), Sql_condition::WARN_LEVEL_WARN, ER_GET_ERRMSG,
                        "AWSS3: the catalogue of shared tables has another table "
                        "named `%s`.`%s`; this server's table is not shared",
                        s->db.str, s->table_name.str);
    return 0;
  }
  return 0;
}

int ha_awss3::discover_check_version()
{
  return check_definition();
}

/* Whether a rename puts a table in its place: RENAME TABLE, or the last
   step of ALTER TABLE (its copy, or the table itself, renamed to the name the
   statement leaves it under); not ALTER's renames to internal names. */
static bool rename_is_final(THD *thd, const Table_name &to)
{
  LEX *lex= thd ? thd->lex : NULL;
  if (!lex || lex->sql_command != SQLCOM_ALTER_TABLE || !lex->query_tables)
    return true;
  TABLE_LIST *t= lex->query_tables;
  const LEX_CSTRING &db= lex->first_select_lex() && lex->first_select_lex()->db.str
                           ? lex->first_select_lex()->db : t->db;
  const LEX_CSTRING &name= lex->name.str ? lex->name : t->table_name;
  /* As the server compares names (lower_case_table_names). */
  return !my_strcasecmp(table_alias_charset, db.str, to.name.db) &&
         !my_strcasecmp(table_alias_charset, name.str, to.name.table);
}

/* What a create is for, from the server's flags: ALTER TABLE's copy
   (HA_CREATE_TMP_ALTER; of an AWSS3 table when the table being altered is
   ours), CREATE TEMPORARY TABLE, or a plain CREATE. */
static Awss3CreateKind create_kind(THD *thd, const HA_CREATE_INFO *info)
{
  if (info->options & HA_CREATE_TMP_ALTER)
  {
    TABLE_LIST *altered= thd->lex->query_tables;
    bool from_awss3= altered && altered->table &&
                     altered->table->s->db_type() == awss3_hton;
    return from_awss3 ? AWSS3_CREATE_ALTER_SELF_COPY : AWSS3_CREATE_ALTER_COPY;
  }
  if (info->tmp_table())
    return AWSS3_CREATE_TEMPORARY;
  return AWSS3_CREATE_TABLE;
}

/* A CONNECTION reaches objects outside the table's database with the
   server's (or a CREATE SERVER's) credentials: setting one takes the FILE
   privilege, as for CONNECT's outward tables. Raises the error. */
static bool connection_denied(THD *thd, const LEX_CSTRING &connection)
{
  return connection.length && check_global_access(thd, FILE_ACL, false);
}

/* A file beside a table's .frm: `table_path` as the handler is given it
   (./db/t), `ext` its extension. */
struct Table_file
{
  char path[FN_REFLEN];
  Table_file(const char *table_path, const char *ext)
  {
    fn_format(path, table_path, "", ext, MY_UNPACK_FILENAME | MY_APPEND_EXT);
  }
  bool exists() const { return !access(path, F_OK); }
};

int ha_awss3::create(const char *name, TABLE *form, HA_CREATE_INFO *info)
{
  if (check_schema(form->s))
    return HA_WRONG_CREATE_OPTION;
  if (connection_denied(ha_thd(), info->connect_string))
    return HA_WRONG_CREATE_OPTION;
  Table_def d(form->s, name, info->connect_string);
  /* ALTER's copy is created under a temporary name: its location follows
     the name of the table being altered. */
  if ((info->options & HA_CREATE_TMP_ALTER) && info->alias.str)
  {
    d.def.name= info->alias.str;
    d.def.name_len= info->alias.length;
  }
  if (form->s->frm_image)
  {
    d.def.frm= form->s->frm_image->str;
    d.def.frm_len= form->s->frm_image->length;
  }
  d.def.version= form->s->tabledef_version.str;
  d.def.version_len= form->s->tabledef_version.length;
  const char *note; size_t note_len= 0;
  Awss3CreateKind kind= create_kind(ha_thd(), info);
  int rc= awss3_table_create(&d.def, kind, statement_killed, ha_thd(), &note,
                             &note_len);
  if (rc)
  {
    fail(rc);
    if (kind == AWSS3_CREATE_ALTER_SELF_COPY)
      my_printf_error(ER_ALTER_OPERATION_NOT_SUPPORTED_REASON, "AWSS3: %s",
                      MYF(0), last_error.c_ptr_safe());
    else if (kind == AWSS3_CREATE_TEMPORARY)
      my_printf_error(ER_ILLEGAL_HA_CREATE_OPTION, "AWSS3: %s", MYF(0),
                      last_error.c_ptr_safe());
    else
      my_printf_error(ER_CANT_CREATE_TABLE, "AWSS3: cannot create `%s`.`%s`: %s",
                      MYF(0), form->s->db.str, d.def.name,
                      last_error.c_ptr_safe());
    return rc;
  }
  if (note_len)
  {
    String text;
    set_message(&text, note, note_len);
    push_warning_printf(ha_thd(), Sql_condition::WARN_LEVEL_NOTE,
                        ER_GET_ERRMSG, "%s", text.c_ptr_safe());
  }
  /* A discovering engine keeps the definition: the server writes no .frm
     (ha_create_table). This server keeps its own copy as before. */
  Table_file frm(name, reg_ext);
  if (awss3_discovery && !frm.exists() && form->s->write_frm_image())
  {
    my_printf_error(ER_CANT_CREATE_TABLE, "AWSS3: cannot write %s", MYF(0), frm.path);
    return HA_ERR_GENERIC;
  }
  return 0;
}

int ha_awss3::open(const char *name, int, uint)
{
  if (!(share= get_share()))
    return HA_ERR_OUT_OF_MEM;
  thr_lock_data_init(&share->lock, &lock_data, NULL);
  Table_def d(table->s, name, table->s->connect_string);
  int rc= awss3_table_new(&d.def, &core);
  if (rc)
  {
    fail(rc);
    /* open() errors are reported without print_error(): say it here. */
    my_printf_error(ER_GET_ERRMSG, "AWSS3: cannot open `%s`.`%s`: %s", MYF(0),
                    table->s->db.str, table->s->table_name.str,
                    last_error.c_ptr_safe());
    return rc;
  }
  const char *loc; size_t loc_len;
  if (!awss3_table_location(core, &loc, &loc_len))
    location.assign(loc, loc_len);
  /* A .frm this server kept may be older than the catalogue's. */
  if ((rc= check_definition()))
  {
    awss3_table_free(core);
    core= nullptr;
    return rc;
  }
  uint n= table->s->fields;
  cells.assign(n, Awss3Cell());
  cell_bufs.resize(n);
  old_cells.assign(n, Awss3Cell());
  old_bufs.resize(n);
  blob_bufs.resize(n);
  needed.reset(new bool[n]());
  return 0;
}

int ha_awss3::close(void)
{
  lift_fence();
  awss3_table_free(core);
  core= nullptr;
  return 0;
}

int ha_awss3::delete_table(const char *name)
{
  /* DROP of a table that does not exist asks every engine: say "not mine"
     unless the .frm is there (the server removes it after this call) or,
     with discovery, the catalogue has the table. */
  bool frm_present= Table_file(name, reg_ext).exists();
  Table_name n(name);
  if (!frm_present && (!awss3_discovery || system_schema(n.db)))
    return ENOENT;
  int rc= awss3_table_drop(name, strlen(name), &n.name, frm_present,
                           statement_killed, ha_thd());
  if (rc == HA_ERR_KEY_NOT_FOUND)
    return ENOENT;
  if (rc && rc != HA_ERR_ABORTED_BY_USER && !frm_present)
  {
    /* A name this server does not know, and the catalogue cannot be asked
       (DROP TABLE IF EXISTS of any engine's table comes here): "not mine",
       with a warning saying why the catalogue was not asked. */
    fail(rc);
    push_warning_printf(ha_thd(), Sql_condition::WARN_LEVEL_WARN, ER_GET_ERRMSG,
                        "AWSS3: the catalogue of shared tables could not be "
                        "asked about `%s`.`%s`: %s", n.db, n.table,
                        last_error.c_ptr_safe());
    return ENOENT;
  }
  return raise_ddl_error(rc);
}

/* DROP and RENAME errors are printed by the server through another handler
   object (or as its own ER_ERROR_ON_RENAME): the core's message is raised
   here, first, so that it is the statement's error. */
int ha_awss3::raise_ddl_error(int rc)
{
  THD *thd= ha_thd();
  if (fail(rc) == AWSS3_ERROR_ENGINE && !thd->is_error())
    my_printf_error(ER_GET_ERRMSG, "AWSS3: %s", MYF(0), last_error.c_ptr_safe());
  else if (rc == HA_ERR_ABORTED_BY_USER && !thd->is_error())
    thd->send_kill_message();
  return rc;
}

int ha_awss3::rename_table(const char *from, const char *to)
{
  Table_name a(from), b(to);
  /* The server renames the .frm after the engine: the definition to
     publish under the new name is still at `from` (when this server has
     one: a table known only from the catalogue has none). */
  const uchar *frm= NULL; size_t len= 0;
  LEX_CUSTRING version= {NULL, 0};
  bool final= awss3_discovery && rename_is_final(ha_thd(), b);
  Table_file from_frm(from, reg_ext);
  /* A killed RENAME is undone by the server (its DDL log renames back, still
     killed): a name that has nothing here was never renamed. */
  if (awss3_discovery && thd_killed(ha_thd()) && !from_frm.exists() &&
      !Table_file(from, ".awss3").exists())
    return ENOENT;
  if (final && from_frm.exists())
  {
    if (readfrm(from, &frm, &len))
    {
      my_printf_error(ER_ERROR_ON_RENAME, "AWSS3: cannot read %s", MYF(0),
                      from_frm.path);
      return HA_ERR_GENERIC;
    }
    version= frm_version(frm, len);
  }
  int rc= awss3_table_rename(from, strlen(from), to, strlen(to), &a.name, &b.name,
                             final, frm, len, version.str, version.length,
                             statement_killed, ha_thd());
  my_free(const_cast<uchar *>(frm));
  return rc == HA_ERR_KEY_NOT_FOUND ? ENOENT : raise_ddl_error(rc);
}

/* Fills out[] from a record (any of the table's record buffers); bufs back
   the text and bytes. */
/* The shim reads and stores every field of a row, whatever the statement's
   read/write sets say (debug servers assert on that, as for sequence.cc). */
struct All_columns
{
  TABLE *table;
  MY_BITMAP *old[2];
  explicit All_columns(TABLE *t) : table(t)
  {
    dbug_tmp_use_all_columns(table, old, &table->read_set, &table->write_set);
  }
  ~All_columns()
  {
    dbug_tmp_restore_column_maps(&table->read_set, &table->write_set, old);
  }
};

void ha_awss3::record_to_cells(const uchar *rec, std::vector<Awss3Cell> &out,
                               std::vector<String> &bufs)
{
  All_columns all(table);
  my_ptrdiff_t d= rec - table->record[0];
  for (uint i= 0; i < table->s->fields; i++)
  {
    Field *f= table->field[i];
    Awss3Cell &c= out[i];
    c.kind= AWSS3_CELL_NULL;
    c.int_value= 0;
    c.real_value= 0;
    c.data= NULL;
    c.len= 0;
    f->move_field_offset(d);
    if (!f->is_null())
    {
      int kind= cell_kind(f);
      c.kind= kind;
      switch (kind)
      {
      case AWSS3_CELL_INT: case AWSS3_CELL_UINT:
        c.int_value= f->val_int();
        break;
      case AWSS3_CELL_DOUBLE: case AWSS3_CELL_FLOAT:
        c.real_value= f->val_real();
        break;
      default:
      {
        String tmp;
        String *s= f->val_str(&tmp);
        uint errors;
        if (kind == AWSS3_CELL_TEXT)
          bufs[i].copy(s->ptr(), s->length(), s->charset(),
                            &my_charset_utf8mb4_bin, &errors);
        else
          bufs[i].copy(s->ptr(), s->length(), s->charset());
        c.data= (const uint8_t *) bufs[i].ptr();
        c.len= bufs[i].length();
      }
      }
    }
    f->move_field_offset(-d);
  }
}

/* Catches what Field::store() says while a row from S3 is stored: a value
   that does not fit its column (out of range, truncated, invalid date, ...)
   makes the object malformed for this table, never a silent change. */
class Store_check : public Internal_error_handler
{
public:
  bool failed= false;
  char msg[256]= "";
  bool handle_condition(THD *, uint, const char *,
                        Sql_condition::enum_warning_level *level,
                        const char *m, Sql_condition **) override
  {
    if (*level != Sql_condition::WARN_LEVEL_NOTE && !failed)
    {
      failed= true;
      strmake(msg, m, sizeof(msg) - 1);
    }
    return true;
  }
};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long days_from_civil(long y, unsigned m, unsigned d)
{
  y-= m <= 2;
  long era= (y >= 0 ? y : y - 399) / 400;
  unsigned yoe= (unsigned) (y - era * 400);
  unsigned doy= (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe= yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long) doe - 719468;
}

/* S3's last_modified (UTC text) into a TIMESTAMP column: as an instant, not
   as local time. */
static int store_utc_text(Field *f, const char *p, size_t len)
{
  char buf[40];
  strmake(buf, p, MY_MIN(len, sizeof(buf) - 1));
  int y, mo, d, h, mi, sec;
  unsigned long usec= 0;
  char frac[8]= "";
  if (sscanf(buf, "%d-%d-%d %d:%d:%d.%6[0-9]", &y, &mo, &d, &h, &mi, &sec,
             frac) < 6)
    return f->store(p, len, &my_charset_latin1);
  for (int i= 0; i < 6; i++)
    usec= usec * 10 + (frac[i] ? (unsigned long) (frac[i] - '0') : 0);
  if (frac[0] == '\0')
    usec= 0;
  my_time_t t= (my_time_t) (days_from_civil(y, mo, d) * 86400L +
                            h * 3600L + mi * 60L + sec);
  return f->store_timestamp(t, usec);
}

/* Stores the core's cells into a record buffer. False, with the reason in
   *why, when a value does not fit its column. */
bool ha_awss3::cells_to_record(uchar *buf, const Awss3Cell *out, size_t n,
                               String *why)
{
  All_columns all(table);
  THD *thd= ha_thd();
  Store_check check;
  Check_level_instant_set warn(thd, CHECK_FIELD_WARN);
  Abort_on_warning_instant_set no_abort(thd, false);
  thd->push_internal_handler(&check);
  my_ptrdiff_t d= buf - table->record[0];
  uint bad= UINT_MAX;
  for (uint i= 0; i < table->s->fields && i < n && bad == UINT_MAX; i++)
  {
    Field *f= table->field[i];
    const Awss3Cell &c= out[i];
    int err= 0;
    f->move_field_offset(d);
    switch (c.kind)
    {
    case AWSS3_CELL_NULL:
      if (f->real_maybe_null())
      {
        /* Under the NULL bit, the column default's bytes, as InnoDB leaves
           them: ON DUPLICATE KEY UPDATE compares records byte by byte
           (compare_record), and a previous row's bytes left there would
           count an unchanged row as updated. */
        f->set_null();
        f->reset();           /* BIT: also the bits kept among the NULL bits */
        memcpy(f->ptr, table->s->default_values + (f->ptr - buf),
               f->pack_length_in_rec());
      }
      else
        f->reset();
      break;
    case AWSS3_CELL_DEFAULT:
      f->set_default();
      break;
    case AWSS3_CELL_INT: case AWSS3_CELL_UINT:
      f->set_notnull();
      err= f->store((longlong) c.int_value, c.kind == AWSS3_CELL_UINT);
      break;
    case AWSS3_CELL_DOUBLE: case AWSS3_CELL_FLOAT:
      f->set_notnull();
      if (c.real_value == 0 && std::signbit(c.real_value) &&
          f->real_type() == MYSQL_TYPE_FLOAT)
      {
        /* store(double) drops the sign of -0. */
        float neg_zero= -0.0f;
        float4store(f->ptr, neg_zero);
      }
      else
        err= f->store(c.real_value);
      break;
    case AWSS3_CELL_TEXT: case AWSS3_CELL_BYTES:
    {
      CHARSET_INFO *from= c.kind == AWSS3_CELL_TEXT ? &my_charset_utf8mb4_bin
                                                    : &my_charset_bin;
      f->set_notnull();
      if (f->flags & BLOB_FLAG)
      {
        uint errors;
        Field_blob *blob= static_cast<Field_blob *>(f);
        String &b= blob_bufs[i];
        b.copy((const char *) c.data, c.len, from, f->charset(), &errors);
        if (errors || b.length() > blob->max_data_length())
          err= 1;
        else
          blob->set_ptr(b.length(), (uchar *) b.ptr());
      }
      else
        err= f->store((const char *) c.data, c.len, from);
      break;
    }
    default: /* NUMBER, TEMPORAL: the server's own text forms */
    {
      ha_field_option_struct *o= f->option_struct;
      f->set_notnull();
      if (f->type() == MYSQL_TYPE_TIMESTAMP && o &&
          o->s3_attr == AWSS3_ATTR_LAST_MODIFIED + 1)
        err= store_utc_text(f, (const char *) c.data, c.len);
      else
        err= f->store((const char *) c.data, c.len, &my_charset_latin1);
      break;
    }
    }
    f->move_field_offset(-d);
    /* 3 is a note (e.g. trailing spaces removed): the value is intact. */
    if ((err && err != 3) || check.failed)
      bad= i;
  }
  thd->pop_internal_handler();
  if (bad == UINT_MAX)
    return true;
  why->length(0);
  why->append(STRING_WITH_LEN("column `"));
  why->append(table->field[bad]->field_name.str,
              table->field[bad]->field_name.length);
  why->append(STRING_WITH_LEN("`: "));
  if (check.failed)
    why->append(check.msg, strlen(check.msg));
  else
    why->append(STRING_WITH_LEN("the value does not fit the column"));
  return false;
}

/* A row whose values do not fit its columns (`why`): the core decides, as
   for its own checks, with the setting its read started with. True when the
   row is to be skipped (a warning was pushed); else the error is set. */
bool ha_awss3::malformed(const Awss3Cell *, const String &why)
{
  int rc= fail(awss3_row_malformed(core, why.ptr(), why.length()));
  push_core_warnings();
  return rc == 0;
}

/* The key value of a record, as the core wants it (UTF-8 or bytes). */
bool ha_awss3::key_of_record(const uchar *rec, String *out)
{
  All_columns all(table);
  Field *k= table->key_info[0].key_part[0].field;
  my_ptrdiff_t d= rec - table->record[0];
  String tmp;
  k->move_field_offset(d);
  String *s= k->val_str(&tmp);
  k->move_field_offset(-d);
  uint errors;
  if (k->charset() == &my_charset_bin)
    out->copy(s->ptr(), s->length(), &my_charset_bin);
  else
    out->copy(s->ptr(), s->length(), s->charset(), &my_charset_utf8mb4_bin,
              &errors);
  return false;
}

/* Columns a read must fill: the read_set, or all of them for a statement
   that writes (UPDATE rewrites whole objects). */
void ha_awss3::compute_needed()
{
  bool all= !bitmap_is_clear_all(table->write_set);
  for (uint i= 0; i < table->s->fields; i++)
    needed[i]= all || bitmap_is_set(table->read_set, i);
}

/* The core says whether the rows are written concurrently (src/insert.rs).
   IGNORE, REPLACE, ON DUPLICATE KEY UPDATE and triggers need each row's
   outcome before the next row. */
void ha_awss3::start_bulk_insert(ha_rows rows, uint)
{
  THD *thd= ha_thd();
  bool one_by_one= thd->lex->duplicates != DUP_ERROR || thd->lex->ignore ||
                   table->triggers;
  bool concurrent= false;
  bulk= core && !fail(awss3_bulk_begin(core, rows, one_by_one, &concurrent)) &&
        concurrent;
  push_core_warnings();
  /* INSERT ... SELECT and LOAD DATA do not say how many rows come. */
  if (rows > 1)
    progress_start(rows);
}

int ha_awss3::end_bulk_insert()
{
  progress_stop();
  if (!bulk)
    return 0;
  bulk= false;
  int rc= fail(awss3_bulk_end(core));
  if (rc)
  {
    /* Callers report my_errno, or nothing: say it here unless a row did. */
    if (!ha_thd()->is_error())
      print_error(rc, MYF(0));
    my_errno= rc;
  }
  return rc;
}

/* 0: batched. Not with triggers (a trigger could read a row whose DELETE is
   still in flight; a multi-table DELETE asks even with AFTER triggers), nor
   with IGNORE (each row's failure must be its own warning, not a later row's). */
bool ha_awss3::start_bulk_delete()
{
  THD *thd= ha_thd();
  if (table->triggers || thd->lex->ignore)
    return true;
  bulk= core && !fail(awss3_bulk_delete_begin(core));
  push_core_warnings();
  return !bulk;
}

int ha_awss3::end_bulk_delete()
{
  if (!bulk)
    return 0;
  bulk= false;
  int rc= fail(awss3_bulk_end(core));
  if (rc)
    my_errno= rc;
  return rc;
}

/* 0: batched. Not with triggers (the server declines for AFTER UPDATE ones;
   a BEFORE UPDATE trigger could read a row whose PUT is still in flight), nor
   with IGNORE (each row's failure must be its own warning), nor while the
   binary log is open: the server writes no row event for
   ha_bulk_update_row(). */
bool ha_awss3::start_bulk_update()
{
  if (table->triggers || ha_thd()->lex->ignore || mysql_bin_log.is_open())
    return true;
  bulk= core && !fail(awss3_bulk_update_begin(core));
  push_core_warnings();
  return !bulk;
}

/* A row that keeps its key is queued; an earlier row's failure is this
   row's error (the statement stops there, as it would have). */
int ha_awss3::bulk_update_row(const uchar *old_data, const uchar *new_data,
                              ha_rows *dup_key_found)
{
  *dup_key_found= 0;
  return update_one(old_data, new_data);
}

/* Waits for the rows in flight. After a failure already reported, the
   others are waited for and their errors dropped: one error a statement.
   A KILL while waiting is this call's error: the server read its rows
   before it came and would otherwise report success. */
int ha_awss3::exec_bulk_update(ha_rows *dup_key_found)
{
  *dup_key_found= 0;
  if (!bulk)
    return 0;
  bulk= false;
  int rc= fail(awss3_bulk_end(core));
  if (rc && ha_thd()->is_error())
    return 0;
  return rc;
}

int ha_awss3::end_bulk_update()
{
  ha_rows dup= 0;
  return exec_bulk_update(&dup);
}

int ha_awss3::write_row(const uchar *buf)
{
  progress_step();
  record_to_cells(buf, cells, cell_bufs);
  int rc= fail(awss3_insert(core, cells.data(), cells.size()));
  push_core_warnings();
  if (rc == HA_ERR_FOUND_DUPP_KEY)
    errkey= 0;
  return rc;
}

/* Not batched: a batch still open (which the server never leaves behind;
   defensive, the engine cannot be partitioned) is waited for first, so this
   row is written now, as the server expects. */
int ha_awss3::update_row(const uchar *old_data, const uchar *new_data)
{
  if (bulk)
  {
    ha_rows dup;
    if (int rc= exec_bulk_update(&dup))
      return rc;
  }
  return update_one(old_data, new_data);
}

int ha_awss3::update_one(const uchar *old_data, const uchar *new_data)
{
  String old_key;
  key_of_record(old_data, &old_key);
  record_to_cells(new_data, cells, cell_bufs);
  /* With the old row: the core writes nothing for an unchanged one. */
  record_to_cells(old_data, old_cells, old_bufs);
  int rc= fail(awss3_update(core, (const uint8_t *) old_key.ptr(),
                            old_key.length(), old_cells.data(), old_cells.size(),
                            cells.data(), cells.size()));
  if (rc == HA_ERR_RECORD_IS_THE_SAME)
    return rc;
  push_core_warnings();
  if (rc == HA_ERR_FOUND_DUPP_KEY)
    errkey= 0;
  return rc;
}

int ha_awss3::delete_row(const uchar *buf)
{
  String key;
  key_of_record(buf, &key);
  return fail(awss3_delete(core, (const uint8_t *) key.ptr(), key.length()));
}

int ha_awss3::delete_all_rows()
{
  progress_start(stats.records);
  int rc= fail(awss3_table_truncate(core));
  progress_stop();
  return rc;
}

int ha_awss3::index_init(uint idx, bool)
{
  active_index= idx;
  compute_needed();
  return 0;
}

int ha_awss3::index_end()
{
  if (key_scan)
    awss3_scan_end(core);
  key_scan= false;
  if (mrr_batched)
    awss3_batch_end(core);
  mrr_batched= false;
  mrr_ids.clear();
  active_index= MAX_KEY;
  return 0;
}

/* S3 lists keys in UTF-8 byte order: the core says for which key charsets
   that is the key's own order, so that ranges on the key can be LISTs from a
   start key; for others the key serves exact lookups only, and ranges scan
   the table.
   Under PAD SPACE (utf8mb4_bin) SQL orders 'a\t' before 'a', S3 after: the
   core's scans put such keys back in the collation's order (scan::PadOrder).
   HA_READ_ORDER is given only for the whole key (all_parts): that is what
   the server asks when it decides whether ORDER BY the key can read in key
   order (TABLE_SHARE's part_of_sortkey) instead of sorting and re-reading
   each row. The MIN()/MAX() optimisation asks for the single part and
   gets no order: it would read the key ends before the scan it still needs
   when other aggregates stand beside them (S3 lists forwards only, so
   MAX() alone costs a LIST pass). */
ulong ha_awss3::index_flags(uint, uint, bool all_parts) const
{
  const TABLE_SHARE *s= table_share;
  if (s && s->keys && s->key_info[0].key_part)
  {
    CHARSET_INFO *cs= s->key_info[0].key_part[0].field->charset();
    if (awss3_key_ranges_listable(cs->cs_name.str, cs->cs_name.length,
                                  cs == &my_charset_bin))
      return HA_READ_NEXT | HA_READ_RANGE | HA_KEY_SCAN_NOT_ROR |
             (all_parts ? HA_READ_ORDER : 0);
  }
  return HA_ONLY_WHOLE_INDEX | HA_KEY_SCAN_NOT_ROR;
}

/* A key in the server's key format, as the core wants it. */
bool ha_awss3::key_of_key_image(const uchar *key, uint len, String *out)
{
  std::vector<uchar> rec(table->s->reclength);
  /* A bound can be longer than the column holds (LIKE 'b%' ends at 'b'
     padded with the largest character to the key's byte length): it is
     cut to the column, as SELECT does, never an error of the statement
     (UPDATE and DELETE run with strict checks on). */
  THD *thd= ha_thd();
  Check_level_instant_set quiet(thd, CHECK_FIELD_IGNORE);
  Abort_on_warning_instant_set no_abort(thd, false);
  key_restore(rec.data(), key, &table->key_info[0], len);
  return key_of_record(rec.data(), out);
}

int ha_awss3::start_key_scan(const String *lower, int lower_kind)
{
  if (key_scan)
    awss3_scan_end(core);
  int rc= fail(awss3_scan_start(core, needed.get(), table->s->fields,
                                lower ? (const uint8_t *) lower->ptr() : NULL,
                                lower ? lower->length() : 0, lower_kind,
                                (const uint8_t *) range_upper.ptr(),
                                range_upper.length(), range_upper_kind,
                                AWSS3_MALFORMED_AS_SET, false));
  key_scan= rc == 0;
  return rc;
}

int ha_awss3::read_range_first(const key_range *start_key,
                               const key_range *end_key, bool eq_range,
                               bool sorted)
{
  /* The end of the range bounds the LIST, so nothing past it is fetched;
     the server still checks each row against it. */
  range_upper_kind= AWSS3_BOUND_NONE;
  range_upper.length(0);
  if (end_key && !eq_range)
  {
    key_of_key_image(end_key->key, end_key->length, &range_upper);
    range_upper_kind= end_key->flag == HA_READ_BEFORE_KEY
                      ? AWSS3_BOUND_EXCLUSIVE : AWSS3_BOUND_INCLUSIVE;
  }
  int rc= handler::read_range_first(start_key, end_key, eq_range, sorted);
  range_upper_kind= AWSS3_BOUND_NONE;
  range_upper.length(0);
  return rc;
}

int ha_awss3::index_first(uchar *buf)
{
  int rc= start_key_scan(NULL, AWSS3_BOUND_NONE);
  return rc ? rc : next_scanned_row(buf);
}

/* The row with the greatest key up to `upper`: S3 lists forwards only, so
   this LISTs up to there (no GET) and then reads that one row. */
int ha_awss3::read_last(uchar *buf, const String *upper, int upper_kind)
{
  if (key_scan)
    awss3_scan_end(core);
  key_scan= false;
  uchar key[AWSS3_MAX_KEY_BYTES];
  size_t len;
  int rc= fail(awss3_last_key(core, upper ? (const uint8_t *) upper->ptr() : NULL,
                              upper ? upper->length() : 0, upper_kind, key,
                              sizeof(key), &len));
  if (rc == HA_ERR_KEY_NOT_FOUND)
    return HA_ERR_END_OF_FILE;
  return rc ? rc : read_by_key(buf, key, len);
}

int ha_awss3::index_last(uchar *buf)
{
  return read_last(buf, NULL, AWSS3_BOUND_NONE);
}

int ha_awss3::index_next(uchar *buf)
{
  /* After an exact lookup there is nothing more: the key is unique. */
  return key_scan ? next_scanned_row(buf) : HA_ERR_END_OF_FILE;
}

int ha_awss3::read_by_key(uchar *buf, const uchar *key, size_t len,
                          bool position)
{
  const Awss3Cell *out;
  size_t n;
  int rc= fail(awss3_read_key(core, key, len,
                              position ? AWSS3_READ_POSITION : AWSS3_READ_LOOKUP,
                              needed.get(), table->s->fields, &out, &n));
  push_core_warnings();
  String why;
  if (rc == 0 && !cells_to_record(buf, out, n, &why))
    rc= malformed(out, why) ? HA_ERR_KEY_NOT_FOUND : AWSS3_ERROR_ENGINE;
  return rc;
}

int ha_awss3::index_read_map(uchar *buf, const uchar *key,
                             key_part_map keypart_map,
                             enum ha_rkey_function find_flag)
{
  uint key_len= calculate_key_len(table, active_index, key, keypart_map);
  String k;
  key_of_key_image(key, key_len, &k);
  if (find_flag == HA_READ_KEY_EXACT)
  {
    if (key_scan)
      awss3_scan_end(core);
    key_scan= false;
    note_lookup();
    return read_by_key(buf, (const uchar *) k.ptr(), k.length());
  }
  /* Greatest key <= / < the given one (MAX(k) with a bound). */
  if (find_flag == HA_READ_PREFIX_LAST_OR_PREV || find_flag == HA_READ_KEY_OR_PREV)
    return read_last(buf, &k, AWSS3_BOUND_INCLUSIVE);
  if (find_flag == HA_READ_BEFORE_KEY)
    return read_last(buf, &k, AWSS3_BOUND_EXCLUSIVE);
  if (find_flag == HA_READ_PREFIX_LAST)
    return read_by_key(buf, (const uchar *) k.ptr(), k.length());
  if (find_flag != HA_READ_KEY_OR_NEXT && find_flag != HA_READ_AFTER_KEY)
    return HA_ERR_WRONG_COMMAND;
  int rc= start_key_scan(&k, find_flag == HA_READ_KEY_OR_NEXT
                             ? AWSS3_BOUND_INCLUSIVE : AWSS3_BOUND_EXCLUSIVE);
  return rc ? rc : next_scanned_row(buf);
}

/* MariaDB progress reporting (the Progress column of SHOW PROCESSLIST, and
   the client's progress line where the statement reports to the client).
   Only the first operation of a statement to start reporting owns it (a
   join over two AWSS3 tables reports the first one); the core decides what
   to report and when (src/progress.rs). */
void ha_awss3::progress_start(ulonglong expected)
{
  THD *thd= ha_thd();
  progress_stop();
  if (!thd || thd->progress.arena)
    return;
  uint64_t done, total;
  if (!awss3_progress_start(core, expected, &done, &total))
    return;
  thd_progress_init(thd, 1);
  thd_progress_report(thd, done, total);
}

void ha_awss3::progress_step()
{
  uint64_t done, total;
  if (awss3_progress_step(core, &done, &total))
    thd_progress_report(ha_thd(), done, total);
}

void ha_awss3::progress_stop()
{
  if (awss3_progress_stop(core))
    thd_progress_end(ha_thd());
}

/* Whether the statement may stop reading before the end (a LIMIT anywhere
   in it): then a full scan's cost is not known before it starts. */
static bool statement_has_limit(THD *thd)
{
  if (!thd)
    return true;
  for (SELECT_LEX *sl= thd->lex->all_selects_list; sl; sl= sl->next_select_in_list())
    if (sl->limit_params.explicit_limit)
      return true;
  return thd->lex->unit.global_parameters()->limit_params.explicit_limit;
}

/* ALTER TABLE reading the table it alters: a copy out of AWSS3 (a copy
   into AWSS3 of an AWSS3 table is refused when the copy is created). */
static bool copying_out(THD *thd, const TABLE *t)
{
  return thd_sql_command(thd) == SQLCOM_ALTER_TABLE && thd->lex->query_tables &&
         thd->lex->query_tables->table == t;
}

/* The copy ended and the table stays (the ALTER failed or was killed). */
void ha_awss3::lift_fence()
{
  if (fenced && !renaming_away && core && fail(awss3_table_lift_fence(core)))
    sql_print_warning("AWSS3: the fence of `%s`.`%s` could not be lifted (it ends "
                      "with its lease): %s", table_share->db.str,
                      table_share->table_name.str, last_error.c_ptr_safe());
  fenced= renaming_away= false;
}

int ha_awss3::extra(enum ha_extra_function operation)
{
  if (operation == HA_EXTRA_PREPARE_FOR_RENAME && fenced)
    renaming_away= true;
  return 0;
}

int ha_awss3::rnd_init(bool scan)
{
  compute_needed();
  if (!scan)
    return 0;
  if (!fenced && copying_out(ha_thd(), table))
  {
    if (int rc= fail(awss3_table_fence(core)))
      return rc;
    fenced= true;
  }
  int rc= fail(awss3_scan_start(core, needed.get(), table->s->fields, NULL, 0,
                                AWSS3_BOUND_NONE, NULL, 0, AWSS3_BOUND_NONE,
                                AWSS3_MALFORMED_AS_SET,
                                !statement_has_limit(ha_thd())));
  if (!rc)
    progress_start(stats.records);
  return rc;
}

int ha_awss3::rnd_end()
{
  awss3_scan_end(core);
  progress_stop();
  return 0;
}

int ha_awss3::rnd_next(uchar *buf)
{
  return next_scanned_row(buf);
}

/* The next row of the running scan, waiting in short slices so that KILL
   QUERY stops a scan promptly. */
int ha_awss3::wait_scanned(const Awss3Cell **out, size_t *n)
{
  int rc;
  while ((rc= awss3_scan_next(core, out, n)) == AWSS3_ERROR_PENDING)
  {
    if (thd_killed(ha_thd()))
      return HA_ERR_ABORTED_BY_USER;
  }
  return fail(rc);
}

/* The next row of the running scan (full or key range). */
int ha_awss3::next_scanned_row(uchar *buf)
{
  const Awss3Cell *out;
  size_t n;
  for (;;)
  {
    int rc= wait_scanned(&out, &n);
    if (rc == HA_ERR_ABORTED_BY_USER)
      return rc;
    push_core_warnings();
    if (!rc)
      progress_step();
    String why;
    if (rc || cells_to_record(buf, out, n, &why))
      return rc;
    if (!malformed(out, why))
      return AWSS3_ERROR_ENGINE;
  }
}

void ha_awss3::position(const uchar *record)
{
  String k;
  key_of_record(record, &k);
  size_t len= MY_MIN(k.length(), (size_t) AWSS3_MAX_KEY_BYTES);
  memset(ref, 0, ref_length);
  int2store(ref, (uint16) len);
  memcpy(ref + 2, k.ptr(), len);
}

int ha_awss3::rnd_pos(uchar *buf, uchar *pos)
{
  compute_needed();
  /* A statement that writes needs the row's ETag (UPDATE's If-Match): it
     reads the object; a read may take the row from its position. */
  return read_by_key(buf, pos + 2, uint2korr(pos),
                     bitmap_is_clear_all(table->write_set));
}

/* Whether this statement is a DELETE that the server runs as
   delete_all_rows() on `table`, reporting stats.records as its affected
   rows: as mysql_delete() decides (no WHERE or a constant one, no LIMIT
   or RETURNING, no delete triggers, no row-based binlog), and not
   for EXPLAIN. A constant WHERE that is false only costs the count. */
static bool deletes_all_rows(THD *thd, TABLE *table)
{
  if (!thd || thd_sql_command(thd) != SQLCOM_DELETE || thd->lex->describe)
    return false;
  SELECT_LEX *sl= thd->lex->first_select_lex();
  TABLE_LIST *target= sl ? sl->table_list.first : NULL;
  return target && target->table == table &&
         (!sl->where || sl->where->const_item()) &&
         !sl->limit_params.explicit_limit &&
         !thd->lex->has_returning() && !thd->is_current_stmt_binlog_format_row() &&
         !(table->triggers && table->triggers->has_delete_triggers());
}

int ha_awss3::info(uint flag)
{
  /* S3 cannot count without listing: the core's estimate, per statement
     (src/stats.rs); the exact count for a DELETE of every row, which
     reports stats.records as its affected rows. */
  if (flag & HA_STATUS_VARIABLE)
  {
    THD *thd= ha_thd();
    uint64_t n;
    int rc= fail(awss3_table_stats(core, thd ? (uint64_t) thd->query_id : 0,
                                   in_statement && thd,
                                   deletes_all_rows(thd, table), &n));
    if (rc)
      return rc;
    stats.records= n;
    stats.mean_rec_length= 1024;
  }
  if (flag & HA_STATUS_ERRKEY)
    errkey= 0;
  return 0;
}

/* Costs in S3 requests (the optimizer's unit is one disk read): the core's. */
double ha_awss3::scan_time()
{
  return awss3_scan_cost(rows2double(stats.records));
}

double ha_awss3::read_time(uint, uint ranges, ha_rows rows)
{
  return awss3_read_cost(ranges, rows);
}

/* A join on the key without batched key access reads one key at a time:
   the core says when to tell the statement how to batch them. */
void ha_awss3::note_lookup()
{
  THD *thd= ha_thd();
  const char *msg; size_t len;
  /* Only SELECT: the server never batches UPDATE's or DELETE's lookups. */
  if (thd && awss3_lookup_note(core, thd->query_id,
                               thd->variables.join_cache_level < 5 &&
                               thd_sql_command(thd) == SQLCOM_SELECT,
                               &msg, &len))
  {
    String text;
    set_message(&text, msg, len);
    push_warning_printf(thd, Sql_condition::WARN_LEVEL_NOTE, ER_GET_ERRMSG,
                        "%s", text.c_ptr_safe());
  }
}

/* ------------------------------------------------------ multi-range read */

/* A range that is one key value (k = c; a BKA key). */
static bool single_key(const KEY_MULTI_RANGE &r)
{
  return (r.range_flag & EQ_RANGE) && !(r.range_flag & NULL_RANGE) &&
         r.start_key.length;
}

/* Whether every range of the sequence is one key value (IN lists, k = c). */
static bool all_single_keys(RANGE_SEQ_IF *seq, void *param, uint n_ranges,
                            uint mode)
{
  KEY_MULTI_RANGE r;
  range_seq_t it= seq->init(param, n_ranges, mode);
  while (!seq->next(it, &r))
    if (!single_key(r))
      return false;
  return true;
}

/* Ranges from the range optimizer: rows and costs as the server computes
   them (records_in_range, read_time); when every range is one key, the
   core reads them in batches instead of one after another. */
/* The server asks for its default MRR in every statement but SELECT (a
   DS-MRR's second handler would read rows under the writer's feet). Ours reads
   ahead in this one handler, in the sequence's (key) order, so an UPDATE or
   DELETE (SQLCOM_UPDATE/DELETE: one table, or one read through a subquery on
   itself, where the server buffers the writes) may batch its key list too: it
   writes only rows already read, each at its own key, and an UPDATE that
   changes the key has the server collect every row before it writes any. */
bool ha_awss3::mrr_default_forced(uint mrr_mode)
{
  if (!(mrr_mode & HA_MRR_USE_DEFAULT_IMPL))
    return false;
  enum_sql_command cmd= (enum_sql_command) thd_sql_command(ha_thd());
  return cmd != SQLCOM_UPDATE && cmd != SQLCOM_DELETE;
}

ha_rows ha_awss3::multi_range_read_info_const(uint keyno, RANGE_SEQ_IF *seq,
                                              void *seq_init_param,
                                              uint n_ranges, uint *bufsz,
                                              uint *mrr_mode,
                                              Cost_estimate *cost)
{
  bool forced= mrr_default_forced(*mrr_mode);
  /* Walked first: each walk of the sequence recounts what the range
     optimizer reads after this call (range_count, max_key_parts). */
  bool points= !forced && all_single_keys(seq, seq_init_param, n_ranges,
                                          *mrr_mode);
  ha_rows rows= handler::multi_range_read_info_const(keyno, seq, seq_init_param,
                                                     n_ranges, bufsz, mrr_mode,
                                                     cost);
  if (rows != HA_POS_ERROR && points)
  {
    *mrr_mode&= ~HA_MRR_USE_DEFAULT_IMPL;
    *bufsz= 0;
  }
  return rows;
}

/* Batched key access (joins): the keys are whole-key equalities. */
ha_rows ha_awss3::multi_range_read_info(uint keyno, uint n_ranges, uint keys,
                                        uint key_parts, uint *bufsz,
                                        uint *mrr_mode, Cost_estimate *cost)
{
  bool forced= mrr_default_forced(*mrr_mode);
  ha_rows rows= handler::multi_range_read_info(keyno, n_ranges, keys, key_parts,
                                               bufsz, mrr_mode, cost);
  if (rows != HA_POS_ERROR && !forced &&
      key_parts == table->key_info[keyno].user_defined_key_parts)
  {
    *mrr_mode&= ~HA_MRR_USE_DEFAULT_IMPL;
    *bufsz= 0;
  }
  return rows;
}

int ha_awss3::multi_range_read_init(RANGE_SEQ_IF *seq, void *seq_init_param,
                                    uint n_ranges, uint mrr_mode,
                                    HANDLER_BUFFER *buf)
{
  mrr_batched= false;
  mrr_ids.clear();
  mrr_printed_error= 0;
  if (mrr_mode & HA_MRR_USE_DEFAULT_IMPL)
    return handler::multi_range_read_init(seq, seq_init_param, n_ranges,
                                          mrr_mode, buf);
  if (key_scan)
    awss3_scan_end(core);
  key_scan= false;
  mrr_iter= seq->init(seq_init_param, n_ranges, mrr_mode);
  mrr_funcs= *seq;
  mrr_is_output_sorted= MY_TEST(mrr_mode & HA_MRR_SORTED);
  mrr_have_range= false;
  mrr_seq_done= mrr_range_waiting= mrr_range_running= false;
  size_t window= 1;
  int rc= fail(awss3_batch_start(core, needed.get(), table->s->fields, &window));
  if (rc)
  {
    /* BKA takes a failed init for an error without reporting it. */
    if (!ha_thd()->is_error())
      print_error(rc, MYF(0));
    return rc;
  }
  mrr_window= MY_MAX(window, (size_t) 1);
  mrr_batched= true;
  return 0;
}

/* Queues keys of the sequence until the window is full. A range that is
   not one key stops the queue: it runs after the keys before it. */
int ha_awss3::mrr_fill()
{
  while (!mrr_seq_done && !mrr_range_waiting && mrr_ids.size() < mrr_window)
  {
    if (mrr_funcs.next(mrr_iter, &mrr_cur_range))
    {
      mrr_seq_done= true;
      break;
    }
    const KEY_MULTI_RANGE *r= &mrr_cur_range;
    if (!single_key(*r))
    {
      mrr_range_waiting= true;
      break;
    }
    String k;
    key_of_key_image(r->start_key.key, r->start_key.length, &k);
    int rc= fail(awss3_batch_push(core, (const uint8_t *) k.ptr(), k.length()));
    if (rc)
      return rc;
    mrr_ids.push_back(r->ptr);
  }
  return 0;
}

/* The rows of the ranges in the order of the ranges (so output is sorted
   when the ranges are); keys that are not there give no row.
   An MRR implementation raises its own errors: batched key access takes any
   non-zero return for the end of the rows (JOIN_TAB_SCAN_MRR::next), so an
   S3 failure returned silently would make a join quietly lose rows. */
int ha_awss3::multi_range_read_next(range_id_t *range_info)
{
  int rc= mrr_next(range_info);
  if (rc && rc != HA_ERR_END_OF_FILE && !ha_thd()->is_error())
  {
    print_error(rc, MYF(0));
    mrr_printed_error= rc;   /* the range path prints it again: once is enough */
  }
  return rc;
}

int ha_awss3::mrr_next(range_id_t *range_info)
{
  if (!mrr_batched)
    return handler::multi_range_read_next(range_info);
  for (;;)
  {
    if (mrr_range_running)
    {
      int rc= read_range_next();
      if (rc != HA_ERR_END_OF_FILE)
      {
        *range_info= mrr_cur_range.ptr;
        return rc;
      }
      mrr_range_running= false;
    }
    if (int rc= mrr_fill())
      return rc;
    if (mrr_ids.empty())
    {
      if (!mrr_range_waiting)
        return HA_ERR_END_OF_FILE;
      mrr_range_waiting= false;
      KEY_MULTI_RANGE *r= &mrr_cur_range;
      int rc= read_range_first(r->start_key.keypart_map ? &r->start_key : NULL,
                               r->end_key.keypart_map ? &r->end_key : NULL,
                               MY_TEST(r->range_flag & EQ_RANGE),
                               mrr_is_output_sorted);
      if (rc == HA_ERR_END_OF_FILE)
        continue;
      if (rc == 0)
        mrr_range_running= true;
      *range_info= r->ptr;
      return rc;
    }
    const Awss3Cell *out;
    size_t n;
    int rc= fail(awss3_batch_next(core, &out, &n));
    range_id_t id= mrr_ids.front();
    mrr_ids.pop_front();
    push_core_warnings();
    if (rc == HA_ERR_KEY_NOT_FOUND)
      continue;
    if (rc)
      return rc;
    String why;
    if (!cells_to_record(table->record[0], out, n, &why))
    {
      if (malformed(out, why))
        continue;
      return AWSS3_ERROR_ENGINE;
    }
    /* The ha_* read wrappers compute VIRTUAL columns; MRR is called
       directly, so an engine MRR does it itself (as handler.cc does). */
    if (table->vfield &&
        (rc= table->update_virtual_fields(this, VCOL_UPDATE_FOR_READ)))
      return rc;
    *range_info= id;
    return 0;
  }
}

int ha_awss3::multi_range_read_explain_info(uint mrr_mode, char *str,
                                            size_t size)
{
  if (mrr_mode & HA_MRR_USE_DEFAULT_IMPL)
    return 0;
  const char *text= "AWSS3 batched reads";
  size_t len= MY_MIN(strlen(text), size);
  memcpy(str, text, len);
  return (int) len;
}

ha_rows ha_awss3::records_in_range(uint, const key_range *min_key,
                                   const key_range *max_key, page_range *)
{
  /* Equality on the unique key finds at most one row. */
  if (min_key && max_key && min_key->length == max_key->length &&
      !memcmp(min_key->key, max_key->key, min_key->length))
    return 1;
  return awss3_range_rows(stats.records);
}

/* ------------------------------------------------------- ALTER TABLE */

static bool is_integer(enum_field_types t)
{
  return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT ||
         t == MYSQL_TYPE_INT24 || t == MYSQL_TYPE_LONG ||
         t == MYSQL_TYPE_LONGLONG;
}

static bool is_string(enum_field_types t)
{
  return t == MYSQL_TYPE_VARCHAR || t == MYSQL_TYPE_STRING ||
         t == MYSQL_TYPE_VAR_STRING || t == MYSQL_TYPE_TINY_BLOB ||
         t == MYSQL_TYPE_MEDIUM_BLOB || t == MYSQL_TYPE_LONG_BLOB ||
         t == MYSQL_TYPE_BLOB;
}

/* Every value `o` can hold, stored as the core stores it (integers and
   DECIMAL as exact numbers, text as UTF-8, ENUM/SET by name, temporal
   values as text), reads back unchanged as a value of `n`. The server's
   type knowledge, so it lives here; the core decides the rest. */
static bool values_kept(Field *o, Field *n)
{
  enum_field_types ot= o->real_type(), nt= n->real_type();
  bool o_unsigned= o->flags & UNSIGNED_FLAG, n_unsigned= n->flags & UNSIGNED_FLAG;
  /* sql_type() writes into the buffer it is given. */
  StringBuffer<MAX_FIELD_WIDTH> a, b;
  o->sql_type(a);
  n->sql_type(b);
  if (ot == nt && o->charset() == n->charset() && stringcmp(&a, &b) == 0)
    return true;
  if (is_integer(ot) && is_integer(nt))
    return o_unsigned == n_unsigned ? n->pack_length() >= o->pack_length()
                                    : (o_unsigned && n->pack_length() > o->pack_length());
  if (ot == MYSQL_TYPE_NEWDECIMAL && nt == MYSQL_TYPE_NEWDECIMAL)
  {
    uint os= o->decimals(), ns= n->decimals();
    uint oi= static_cast<Field_new_decimal *>(o)->precision - os;
    uint ni= static_cast<Field_new_decimal *>(n)->precision - ns;
    return (!n_unsigned || o_unsigned) && ns >= os && ni >= oi;
  }
  if (ot == MYSQL_TYPE_BIT && nt == MYSQL_TYPE_BIT)
    return n->field_length >= o->field_length;
  /* CHAR/BINARY pad (or strip) to their length when read: a value does not
     read back the same across fixed and variable length. */
  if (is_string(ot) && is_string(nt) &&
      (ot == MYSQL_TYPE_STRING) == (nt == MYSQL_TYPE_STRING))
  {
    CHARSET_INFO *oc= o->charset(), *nc= n->charset();
    bool binary= oc == &my_charset_bin;
    bool cs_ok= binary ? nc == &my_charset_bin
                       : (nc != &my_charset_bin &&
                          (!strcmp(oc->cs_name.str, nc->cs_name.str) ||
                           !strcmp(nc->cs_name.str, "utf8mb4") ||
                           (!strcmp(oc->cs_name.str, "ascii") &&
                            !strcmp(nc->cs_name.str, "utf8mb3"))));
    return cs_ok && n->char_length() >= o->char_length();
  }
  if ((ot == MYSQL_TYPE_ENUM && nt == MYSQL_TYPE_ENUM) ||
      (ot == MYSQL_TYPE_SET && nt == MYSQL_TYPE_SET))
  {
    /* Stored by name: every old member must still be a member. */
    const TYPELIB *ol= static_cast<Field_enum *>(o)->typelib;
    const TYPELIB *nl= static_cast<Field_enum *>(n)->typelib;
    for (uint i= 0; i < ol->count; i++)
    {
      bool found= false;
      for (uint j= 0; j < nl->count && !found; j++)
        found= ol->type_lengths[i] == nl->type_lengths[j] &&
               !memcmp(ol->type_names[i], nl->type_names[j], ol->type_lengths[i]);
      if (!found)
        return false;
    }
    return true;
  }
  if (ot == nt && (ot == MYSQL_TYPE_DATETIME2 || ot == MYSQL_TYPE_TIME2 ||
                   ot == MYSQL_TYPE_TIMESTAMP2))
    return n->decimals() >= o->decimals();
  return false;
}

/* An ALTER TABLE in the core's terms: both definitions, and where each new
   column comes from (create_list is in the new table's column order). */
struct Alter_def
{
  Table_def old_def, new_def;
  std::vector<Awss3AlterColumn> cols;

  Alter_def(TABLE *table, TABLE *altered, Alter_inplace_info *info)
    : old_def(table->s, table->s->normalized_path.str, table->s->connect_string),
      new_def(altered->s, table->s->normalized_path.str,
              altered->s->connect_string)
  {
    List_iterator_fast<Create_field> it(info->alter_info->create_list);
    uint j= 0;
    while (Create_field *cf= it++)
    {
      Awss3AlterColumn c;
      c.old_index= -1;
      c.values_kept= false;
      c.default_is_expression= false;
      if (j < altered->s->fields)
      {
        Field *nf= altered->field[j];
        c.default_is_expression= nf->default_value || nf->has_default_now_unireg_check();
      }
      if (cf->field && j < altered->s->fields)
      {
        c.old_index= cf->field->field_index;
        c.values_kept= values_kept(cf->field, altered->field[j]);
      }
      cols.push_back(c);
      j++;
    }
  }
};

/* ALTER TABLE is made in place or refused: the core says whether every
   object reads the same under the new definition (then no object is
   touched and no request sent); a copy is never made. */
enum_alter_inplace_result
ha_awss3::check_if_supported_inplace_alter(TABLE *altered_table,
                                           Alter_inplace_info *ha_alter_info)
{
  if (check_schema(altered_table->s))
    return HA_ALTER_ERROR;
  /* Stored generated columns and CHECK constraints hold for every row only
     if every object is read (and rewritten): not something done in place. */
  if (ha_alter_info->handler_flags &
      (ALTER_ADD_STORED_GENERATED_COLUMN | ALTER_STORED_GCOL_EXPR |
       ALTER_COLUMN_VCOL | ALTER_ADD_CHECK_CONSTRAINT))
  {
    my_printf_error(ER_ALTER_OPERATION_NOT_SUPPORTED_REASON,
      "AWSS3: this ALTER TABLE is not supported: a stored generated column or a "
      "CHECK constraint would need every object read and rewritten. Nothing was "
      "changed. Define them at CREATE TABLE, or create a table with the new "
      "definition and INSERT ... SELECT into it", MYF(0));
    return HA_ALTER_ERROR;
  }
  const LEX_CSTRING &was= table->s->connect_string, &now= altered_table->s->connect_string;
  if ((was.length != now.length || memcmp(was.str, now.str, was.length)) &&
      connection_denied(ha_thd(), now.length ? now : was))
    return HA_ALTER_ERROR;
  Alter_def a(table, altered_table, ha_alter_info);
  if (fail(awss3_alter_check(&a.old_def.def, &a.new_def.def, a.cols.data(),
                             a.cols.size())))
  {
    my_printf_error(ER_ALTER_OPERATION_NOT_SUPPORTED_REASON, "AWSS3: %s", MYF(0),
                    last_error.c_ptr_safe());
    return HA_ALTER_ERROR;
  }
  return HA_ALTER_INPLACE_INSTANT;
}

/* The core records what the table must remember (fields of dropped
   columns) once the server commits the new definition. */
bool ha_awss3::commit_inplace_alter_table(TABLE *altered_table,
                                          Alter_inplace_info *ha_alter_info,
                                          bool commit)
{
  ha_alter_info->group_commit_ctx= NULL;
  if (!commit)
    return false;
  Alter_def a(table, altered_table, ha_alter_info);
  if (fail(awss3_alter_commit(&a.old_def.def, &a.new_def.def, a.cols.data(),
                              a.cols.size())))
  {
    my_printf_error(ER_GET_ERRMSG, "AWSS3: %s", MYF(0), last_error.c_ptr_safe());
    return true;
  }
  /* With discovery the new definition replaces the catalogue's, which must
     still be the one this ALTER started from (else another server changed
     the table meanwhile, and the ALTER is rolled back). The server has set
     the share's image to the new .frm for this call. */
  TABLE_SHARE *s= table->s;
  if (awss3_discovery && s->frm_image && !system_schema(s->db.str))
  {
    Table_name n(s->db.str, s->db.length, s->table_name.str, s->table_name.length);
    const LEX_CUSTRING &now= altered_table->s->tabledef_version;
    if (fail(awss3_catalog_publish(&n.name, s->normalized_path.str,
                                   s->normalized_path.length, now.str, now.length,
                                   s->frm_image->str, s->frm_image->length,
                                   s->tabledef_version.str, s->tabledef_version.length,
                                   statement_killed, ha_thd())))
    {
      my_printf_error(ER_GET_ERRMSG, "AWSS3: %s", MYF(0), last_error.c_ptr_safe());
      return true;
    }
  }
  return false;
}

/* ------------------------------------------------- ANALYZE, CHECK TABLE */

/* One LIST pass: the row count the optimizer's estimates use. */
int ha_awss3::analyze(THD *, HA_CHECK_OPT *)
{
  uint64_t n;
  progress_start(stats.records);
  int rc= fail(awss3_table_count(core, &n));
  progress_stop();
  if (rc)
  {
    print_error(rc, MYF(0));
    return HA_ADMIN_FAILED;
  }
  (void) n; /* the core keeps the count for the estimates */
  return HA_ADMIN_OK;
}

/* Reads every object and reports each one that is not a valid row of the
   table (the message of a malformed row), so that a bucket written by other
   tools can be audited. Corrupt if any is found. */
int ha_awss3::check(THD *thd, HA_CHECK_OPT *)
{
  for (uint i= 0; i < table->s->fields; i++)
    needed[i]= true;
  int rc= fail(awss3_scan_start(core, needed.get(), table->s->fields, NULL, 0,
                                AWSS3_BOUND_NONE, NULL, 0, AWSS3_BOUND_NONE,
                                AWSS3_MALFORMED_REPORT, true));
  ulonglong rows= 0, bad= 0;
  if (!rc)
    progress_start(stats.records);
  while (!rc)
  {
    const Awss3Cell *out;
    size_t n;
    rc= wait_scanned(&out, &n);
    bad+= push_core_warnings();
    if (rc)
      break;
    rows++;
    progress_step();
    String why;
    if (!cells_to_record(table->record[0], out, n, &why))
    {
      /* The scan reports (AWSS3_MALFORMED_REPORT): a warning, not an error. */
      malformed(out, why);
      bad++;
    }
  }
  awss3_scan_end(core);
  progress_stop();
  (void) thd;
  if (rc != HA_ERR_END_OF_FILE)
  {
    print_error(rc, MYF(0));
    return HA_ADMIN_FAILED;
  }
  return bad ? HA_ADMIN_CORRUPT : HA_ADMIN_OK;
}

/* A statement starts (or ends) using the table: the core's waits on S3 for
   it end when it is killed. */
int ha_awss3::external_lock(THD *thd, int lock_type)
{
  in_statement= lock_type != F_UNLCK;
  /* A statement's progress is its own: end ours at its end (the core never
     carries ownership into the next statement). */
  if (lock_type == F_UNLCK)
  {
    progress_stop();
    lift_fence();
    /* A batch the server did not end (it always does): its writes are
       waited for here rather than left running. */
    if (bulk)
    {
      bulk= false;
      if (int rc= fail(awss3_bulk_end(core)))
        push_warning_printf(thd, Sql_condition::WARN_LEVEL_WARN, ER_GET_ERRMSG,
                            "AWSS3: a write of this statement failed (error %d) %s",
                            rc, rc == AWSS3_ERROR_ENGINE ? last_error.c_ptr_safe() : "");
    }
  }
  if (core)
  {
    if (lock_type == F_UNLCK)
      awss3_table_set_statement(core, NULL, NULL, NULL, NULL);
    else
      awss3_table_set_statement(core, statement_killed, statement_progress,
                                thd, statement_budget(thd));
  }
  return 0;
}

/* Each statement under LOCK TABLES (external_lock ran once, at LOCK TABLES):
   its own KILL probe and request budget. */
int ha_awss3::start_stmt(THD *thd, thr_lock_type)
{
  if (core)
    awss3_table_set_statement(core, statement_killed, statement_progress,
                              thd, statement_budget(thd));
  return 0;
}

THR_LOCK_DATA **ha_awss3::store_lock(THD *thd, THR_LOCK_DATA **to,
                                     enum thr_lock_type lock_type)
{
  /* Each row operation is atomic in S3: let writers run concurrently
     (as FEDERATED does) unless LOCK TABLES asked for more. */
  if (lock_type != TL_IGNORE && lock_data.type == TL_UNLOCK)
  {
    if (lock_type >= TL_WRITE_CONCURRENT_INSERT && lock_type <= TL_WRITE &&
        !thd_in_lock_tables(thd))
      lock_type= TL_WRITE_ALLOW_WRITE;
    if (lock_type == TL_READ_NO_INSERT && !thd_in_lock_tables(thd))
      lock_type= TL_READ;
    lock_data.type= lock_type;
  }
  *to++= &lock_data;
  return to;
}

/* The server refuses a storage engine built for another server version
   before it calls any of it ("API version for STORAGE ENGINE plugin awss3 not
   supported by this version of the server"). A constructor runs when the
   library is loaded, before that check: it says in the error log which
   versions differ and what to do. (AWSS3_BUILT_FOR: tests build a library
   that claims another version.) */
#ifndef AWSS3_BUILT_FOR
#define AWSS3_BUILT_FOR MYSQL_SERVER_VERSION
#endif
__attribute__((constructor)) static void awss3_version_check()
{
  const char *built= AWSS3_BUILT_FOR;
  size_t n= strcspn(built, "-");
  if (using_custom_server_version ||
      (!strncmp(server_version, built, n) &&
       (server_version[n] == '-' || server_version[n] == '\0')))
    return;
  /* Installed from the package: its own command rebuilds; else the source. */
  bool packaged= access("/usr/sbin/awss3-rebuild", X_OK) == 0;
  fprintf(stderr,
          "AWSS3: ha_awss3.so was built for MariaDB %.*s and this server is %s: "
          "the server refuses a storage engine built for another version, and "
          "AWSS3 tables cannot be opened until the plugin is rebuilt for this "
          "server: %s\n",
          (int) n, built, server_version,
          packaged ? "run `sudo awss3-rebuild` (mariadb-plugin-awss3), then "
                     "restart the server"
                   : "in the AWSS3 source, run `make deps plugin install` (make "
                     "deps builds for the installed server's own version)");
}

struct st_mysql_storage_engine awss3_storage_engine=
{ MYSQL_HANDLERTON_INTERFACE_VERSION };

maria_declare_plugin(awss3)
{
  MYSQL_STORAGE_ENGINE_PLUGIN,
  &awss3_storage_engine,
  "AWSS3",
  "AWSS3 authors",
  "Tables stored in S3 and S3-compatible stores, one object per row",
  PLUGIN_LICENSE_GPL,
  awss3_init_func,
  awss3_done_func,
  0x0001,
  awss3_status_variables,
  awss3_system_variables,
  "0.1",
  MariaDB_PLUGIN_MATURITY_GAMMA
}
maria_declare_plugin_end;
