//! Which INSERTs have their rows written concurrently (up to
//! `awss3_prefetch_window` at a time) rather than one after another.

/// `rows`: the rows the statement says it inserts (0: not said, as for
/// INSERT ... SELECT and LOAD DATA); `one_by_one`: the statement needs each
/// row's outcome before the next row (IGNORE, REPLACE, ON DUPLICATE KEY
/// UPDATE, triggers). A single row gains nothing from a bulk insert.
pub fn concurrent(rows: u64, one_by_one: bool) -> bool {
    rows != 1 && !one_by_one
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_inserts_of_several_or_unsaid_rows_are_concurrent() {
        assert!(concurrent(0, false));
        assert!(concurrent(2, false));
        assert!(!concurrent(1, false));
        assert!(!concurrent(100, true));
        assert!(!concurrent(0, true));
    }
}
