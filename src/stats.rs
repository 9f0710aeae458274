//! What one open handler tells the optimizer (the shim's `info()` and
//! `scan_time()`): the row count, with its per-statement memos, and the cost
//! of a full scan. The counts themselves come from `estimate.rs` (through the
//! table); this module holds only the rules on top of them, so that each
//! number exists once, here.

use crate::error::{Error, Result};
use crate::listing;
use crate::table::{Table, GUESSED_ROWS};

/// The fewest rows reported: the optimizer treats a table of 0 or 1 rows as
/// a constant (it reads it once at plan time), which a table in S3 never is.
pub const MIN_ROWS: u64 = 2;

/// Cost of a full scan of `rows` rows in S3 requests (the optimizer's unit is
/// one disk read; a request is what S3 charges and what takes a round trip):
/// its LISTs, one per page of keys, plus one GET per row.
pub fn scan_cost(rows: f64) -> f64 {
    (rows / listing::PAGE as f64).ceil() + rows
}

/// Cost of reading `rows` rows found through `ranges` key ranges: one GET
/// per row, and a LIST per range when the ranges hold more rows than one key
/// each (point lookups have one row per range).
pub fn read_cost(ranges: u64, rows: u64) -> f64 {
    let mut cost = rows as f64;
    if rows > ranges {
        cost += ranges as f64;
    }
    cost
}

/// Rows a key range that is not one key is taken to hold, of a table of
/// `records`: a range LISTs only its part of the table, so it must look
/// cheaper than a full scan.
pub fn range_rows(records: u64) -> u64 {
    (records / 10).max(MIN_ROWS)
}

/// Where the counts come from (the open table; a fake in tests).
pub trait RowSource {
    /// The known row count, or (`may_list`) one LIST page when none is known.
    /// An error when none is known and none may be listed, or listing failed.
    fn estimate(&mut self, may_list: bool) -> Result<u64>;
    /// The exact count (one LIST pass).
    fn count(&mut self) -> Result<u64>;
}

impl RowSource for Table {
    fn estimate(&mut self, may_list: bool) -> Result<u64> {
        if may_list {
            self.rows_estimate()
        } else {
            self.known_rows().ok_or(Error::NotFound)
        }
    }
    fn count(&mut self) -> Result<u64> {
        Table::count(self)
    }
}

/// The per-statement memos of one handler. Statements are told apart by the
/// server's query id (0 before the first statement).
#[derive(Debug, Default)]
pub struct TableStats {
    /// The statement whose listing for the estimate failed: it is not listed
    /// again in that statement (each `info()` call would retry it).
    failed_query: u64,
    /// The statement a DELETE of every row counted for, and its count.
    counted_query: u64,
    counted_rows: u64,
}

impl TableStats {
    /// The row count `info()` reports. `in_statement`: a statement uses the
    /// table, so its KILL covers a LIST (not at open). `deletes_all`: the
    /// statement is a DELETE the server runs as "delete every row", which
    /// reports this count as its affected rows: exact, counted once per
    /// statement, and not floored. Only that count's failure is an error;
    /// any other failure gives the guess.
    pub fn records(
        &mut self,
        src: &mut dyn RowSource,
        query: u64,
        in_statement: bool,
        deletes_all: bool,
    ) -> Result<u64> {
        let may_list = in_statement && self.failed_query != query;
        let n = match src.estimate(may_list) {
            Ok(n) => n,
            Err(_) => {
                if may_list {
                    self.failed_query = query;
                }
                GUESSED_ROWS
            }
        };
        if !deletes_all {
            return Ok(n.max(MIN_ROWS));
        }
        if self.counted_query != query {
            self.counted_rows = src.count()?;
            self.counted_query = query;
        }
        Ok(self.counted_rows)
    }
}

/// The estimate of a handler whose table could not be opened.
pub fn records_unopened() -> u64 {
    GUESSED_ROWS.max(MIN_ROWS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its calls; `known` is the count the table last listed.
    #[derive(Default)]
    struct Fake {
        known: Option<u64>,
        listable: Option<u64>,
        exact: Option<u64>,
        lists: u32,
        counts: u32,
    }

    impl RowSource for Fake {
        fn estimate(&mut self, may_list: bool) -> Result<u64> {
            if let Some(n) = self.known {
                return Ok(n);
            }
            if !may_list {
                return Err(Error::NotFound);
            }
            self.lists += 1;
            self.listable.ok_or(Error::Engine("denied".into()))
        }
        fn count(&mut self) -> Result<u64> {
            self.counts += 1;
            self.exact.ok_or(Error::Engine("denied".into()))
        }
    }

    #[test]
    fn scan_cost_is_one_list_per_page_plus_one_get_per_row() {
        assert_eq!(scan_cost(0.0), 0.0);
        assert_eq!(scan_cost(1.0), 2.0);
        assert_eq!(scan_cost(1000.0), 1001.0);
        assert_eq!(scan_cost(1001.0), 1003.0);
    }

    #[test]
    fn reads_cost_a_get_per_row_and_a_list_per_range_of_several_rows() {
        assert_eq!(read_cost(3, 3), 3.0);
        assert_eq!(read_cost(3, 1), 1.0);
        assert_eq!(read_cost(2, 50), 52.0);
    }

    #[test]
    fn a_range_is_a_tenth_of_the_table_and_at_least_two_rows() {
        assert_eq!(range_rows(1000), 100);
        assert_eq!(range_rows(5), 2);
        assert_eq!(range_rows(0), 2);
    }

    #[test]
    fn known_counts_are_floored_at_two() {
        let mut s = TableStats::default();
        let mut f = Fake {
            known: Some(0),
            ..Fake::default()
        };
        assert_eq!(s.records(&mut f, 1, true, false).unwrap(), 2);
        f.known = Some(7);
        assert_eq!(s.records(&mut f, 1, false, false).unwrap(), 7);
        assert_eq!(f.lists, 0);
    }

    #[test]
    fn a_failed_listing_guesses_and_is_not_retried_in_that_statement() {
        let mut s = TableStats::default();
        let mut f = Fake::default();
        assert_eq!(s.records(&mut f, 5, true, false).unwrap(), GUESSED_ROWS);
        assert_eq!(s.records(&mut f, 5, true, false).unwrap(), GUESSED_ROWS);
        assert_eq!(f.lists, 1, "one LIST per statement");
        s.records(&mut f, 6, true, false).unwrap();
        assert_eq!(f.lists, 2, "the next statement tries again");
        // Outside a statement nothing is listed.
        s.records(&mut f, 7, false, false).unwrap();
        assert_eq!(f.lists, 2);
        f.listable = Some(1);
        assert_eq!(s.records(&mut f, 8, true, false).unwrap(), 2);
    }

    #[test]
    fn a_delete_of_every_row_counts_once_per_statement_unfloored() {
        let mut s = TableStats::default();
        let mut f = Fake {
            known: Some(50),
            exact: Some(0),
            ..Fake::default()
        };
        assert_eq!(s.records(&mut f, 3, true, true).unwrap(), 0);
        f.exact = Some(9);
        assert_eq!(s.records(&mut f, 3, true, true).unwrap(), 0);
        assert_eq!(f.counts, 1);
        assert_eq!(s.records(&mut f, 4, true, true).unwrap(), 9);
        assert_eq!(s.records(&mut f, 4, true, false).unwrap(), 50);
        f.exact = None;
        assert!(s.records(&mut f, 10, true, true).is_err());
        assert_eq!(f.counts, 3, "a failed count is not remembered");
    }

    #[test]
    fn an_unopened_table_reports_the_guess() {
        assert_eq!(records_unopened(), GUESSED_ROWS);
    }
}
