/* AWSS3 storage engine: the MariaDB handler. It holds no storage logic: each
   method converts the server's arguments into neutral cells (Field API),
   calls one function of the Rust core (awss3.h), and maps the result. */

#ifndef HA_AWSS3_INCLUDED
#define HA_AWSS3_INCLUDED

#include "my_global.h"
#include "thr_lock.h"
#include "handler.h"
#include "sql_string.h"

#include "awss3.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

/* Shared by all handlers of one table: the table lock. (The row count the
   optimizer's estimates use is the core's: see src/estimate.rs.) */
class Awss3_share : public Handler_share
{
public:
  THR_LOCK lock;
  Awss3_share() { thr_lock_init(&lock); }
  ~Awss3_share() override { thr_lock_delete(&lock); }
};

class ha_awss3 final : public handler
{
  THR_LOCK_DATA lock_data;
  Awss3_share *share= nullptr;
  Awss3Table *core= nullptr;
  /* Cells handed to the core, and the strings backing their text. Plain
     heap containers: `new String[]` would use Sql_alloc, i.e. the statement's
     MEM_ROOT, and dangle after the statement. */
  std::vector<Awss3Cell> cells;
  std::vector<String> cell_bufs;
  /* The old row of update_row(), to see whether anything changed. */
  std::vector<Awss3Cell> old_cells;
  std::vector<String> old_bufs;
  /* Blob values of the row last read. The record points at them rather than
     at Field_blob::value, which UPDATE's SET reuses: pointing there would make
     old and new rows look equal. */
  std::vector<String> blob_bufs;
  /* Which columns a read must fill (read_set, widened for writes). */
  std::unique_ptr<bool[]> needed;
  /* An index range scan is running (index_next continues it). */
  bool key_scan= false;
  /* The upper end of the range read_range_first() is starting. */
  String range_upper;
  int range_upper_kind= AWSS3_BOUND_NONE;
  /* A multi-row INSERT whose rows the core writes concurrently. */
  bool bulk= false;
  /* A multi-range read answered by the core's batched point reads: the
     range ids of the keys queued, oldest first (answers come in that
     order), the most it may queue, and whether the sequence is used up. */
  bool mrr_batched= false;
  bool mrr_seq_done= false;
  size_t mrr_window= 1;
  std::deque<range_id_t> mrr_ids;
  /* A range that is not one key, met in a batched read: it runs through
     read_range_first/next once the keys queued before it are answered. */
  bool mrr_range_waiting= false;
  bool mrr_range_running= false;
  /* The error multi_range_read_next() raised itself (print_error skips
     printing it a second time). */
  int mrr_printed_error= 0;
  /* Between external_lock() and its unlock: a statement uses the table. */
  bool in_statement= false;
  /* ALTER TABLE ... ENGINE=<other> is copying this table out, and the core
     fenced it (awss3_table_fence); the copy succeeded and the server is about
     to remove the old table (HA_EXTRA_PREPARE_FOR_RENAME): the DROP that
     follows takes the fence over. */
  bool fenced= false;
  bool renaming_away= false;
  void lift_fence();
  /* s3://bucket/prefix, for messages. */
  std::string location;
  /* Message of the last engine error, for print_error(). */
  String last_error;

  Awss3_share *get_share();
  int fail(int rc);
  /* With awss3_discovery: the definition against the catalogue (0, or
     HA_ERR_TABLE_DEF_CHANGED to have the server discover it again). */
  int check_definition();
  int raise_ddl_error(int rc);
  void compute_needed();
  void record_to_cells(const uchar *rec, std::vector<Awss3Cell> &out,
                       std::vector<String> &bufs);
  bool cells_to_record(uchar *buf, const Awss3Cell *out, size_t n, String *why);
  bool malformed(const Awss3Cell *out, const String &why);
  int wait_scanned(const Awss3Cell **out, size_t *n);
  bool key_of_record(const uchar *rec, String *out);
  /* position: a row this statement read (rnd_pos), else a lookup. */
  int read_by_key(uchar *buf, const uchar *key, size_t len,
                  bool position= false);
  int next_scanned_row(uchar *buf);
  int start_key_scan(const String *lower, int lower_kind);
  int read_last(uchar *buf, const String *upper, int upper_kind);
  bool key_of_key_image(const uchar *key, uint len, String *out);
  uint push_core_warnings();
  int mrr_fill();
  bool mrr_default_forced(uint mrr_mode);
  int mrr_next(range_id_t *range_info);
  void progress_start(ulonglong expected);
  void progress_step();
  void progress_stop();
  void note_lookup();

public:
  ha_awss3(handlerton *hton, TABLE_SHARE *table_arg);
  ~ha_awss3() override;

  const char *index_type(uint) override { return "HASH"; }
  ulonglong table_flags() const override;
  ulong index_flags(uint, uint, bool) const override;
  uint max_supported_keys() const override { return 1; }
  uint max_supported_key_parts() const override { return 1; }
  uint max_supported_key_length() const override { return AWSS3_MAX_KEY_BYTES * 4; }
  uint max_supported_key_part_length() const override { return AWSS3_MAX_KEY_BYTES * 4; }

  int open(const char *name, int mode, uint test_if_locked) override;
  int discover_check_version() override;
  int close(void) override;
  int create(const char *name, TABLE *form, HA_CREATE_INFO *info) override;
  int delete_table(const char *name) override;
  int rename_table(const char *from, const char *to) override;

  void start_bulk_insert(ha_rows rows, uint flags) override;
  int end_bulk_insert() override;
  bool start_bulk_delete() override;
  int end_bulk_delete() override;
  int write_row(const uchar *buf) override;
  int update_one(const uchar *old_data, const uchar *new_data);
  bool start_bulk_update() override;
  int bulk_update_row(const uchar *old_data, const uchar *new_data,
                      ha_rows *dup_key_found) override;
  int exec_bulk_update(ha_rows *dup_key_found) override;
  int end_bulk_update() override;
  int update_row(const uchar *old_data, const uchar *new_data) override;
  int delete_row(const uchar *buf) override;
  int delete_all_rows(void) override;
  int truncate() override { return delete_all_rows(); }

  int index_init(uint idx, bool sorted) override;
  int index_end() override;
  int index_read_map(uchar *buf, const uchar *key, key_part_map keypart_map,
                     enum ha_rkey_function find_flag) override;
  int index_first(uchar *buf) override;
  int index_last(uchar *buf) override;
  int index_next(uchar *buf) override;
  int index_next_same(uchar *, const uchar *, uint) override
  { return HA_ERR_END_OF_FILE; }
  int read_range_first(const key_range *start_key, const key_range *end_key,
                       bool eq_range, bool sorted) override;

  ha_rows multi_range_read_info_const(uint keyno, RANGE_SEQ_IF *seq,
                                      void *seq_init_param, uint n_ranges,
                                      uint *bufsz, uint *mrr_mode,
                                      Cost_estimate *cost) override;
  ha_rows multi_range_read_info(uint keyno, uint n_ranges, uint keys,
                                uint key_parts, uint *bufsz, uint *mrr_mode,
                                Cost_estimate *cost) override;
  int multi_range_read_init(RANGE_SEQ_IF *seq, void *seq_init_param,
                            uint n_ranges, uint mrr_mode,
                            HANDLER_BUFFER *buf) override;
  int multi_range_read_next(range_id_t *range_info) override;
  int multi_range_read_explain_info(uint mrr_mode, char *str,
                                    size_t size) override;
  double scan_time() override;
  double read_time(uint index, uint ranges, ha_rows rows) override;

  int rnd_init(bool scan) override;
  int rnd_end() override;
  int rnd_next(uchar *buf) override;
  int rnd_pos(uchar *buf, uchar *pos) override;
  void position(const uchar *record) override;
  int info(uint flag) override;
  int extra(enum ha_extra_function operation) override;
  ha_rows records_in_range(uint inx, const key_range *min_key,
                           const key_range *max_key, page_range *pages) override;
  int external_lock(THD *thd, int lock_type) override;
  int start_stmt(THD *thd, thr_lock_type lock_type) override;
  THR_LOCK_DATA **store_lock(THD *thd, THR_LOCK_DATA **to,
                             enum thr_lock_type lock_type) override;

  enum_alter_inplace_result
  check_if_supported_inplace_alter(TABLE *altered_table,
                                   Alter_inplace_info *ha_alter_info) override;
  bool commit_inplace_alter_table(TABLE *altered_table,
                                  Alter_inplace_info *ha_alter_info,
                                  bool commit) override;
  int analyze(THD *thd, HA_CHECK_OPT *check_opt) override;
  int check(THD *thd, HA_CHECK_OPT *check_opt) override;

  void print_error(int error, myf errflag) override;
  bool get_error_message(int error, String *buf) override;
};

#endif
