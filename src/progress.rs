//! The progress one handler reports for its long operation (a scan, CHECK,
//! TRUNCATE, a multi-row INSERT of known size): what (done, total) to report
//! and when. The shim only passes the values on to the server's progress
//! API, and decides whether the statement's progress is free to take (the
//! first operation of a statement to start reporting owns it).

/// Rows between two reports: often enough for SHOW PROCESSLIST, rarely
/// enough to cost nothing per row.
pub const REPORT_EVERY: u64 = 16;

#[derive(Debug, Default)]
pub struct Progress {
    /// This handler started the statement's progress.
    owner: bool,
    rows: u64,
    total: u64,
}

impl Progress {
    /// Takes the statement's progress, `expected` rows (the row estimate; at
    /// least 1): the first report, (0, total).
    pub fn start(&mut self, expected: u64) -> (u64, u64) {
        self.owner = true;
        self.rows = 0;
        self.total = expected.max(1);
        (0, self.total)
    }

    /// One more row: the report to make now, if any. The total grows with the
    /// rows when the estimate was low, so the progress never reaches 100%
    /// before the end.
    pub fn step(&mut self) -> Option<(u64, u64)> {
        if !self.owner {
            return None;
        }
        self.rows += 1;
        if self.rows >= self.total {
            self.total = self.rows + 1;
        }
        (self.rows % REPORT_EVERY == 0).then_some((self.rows, self.total))
    }

    /// Ends the operation: whether this handler owned the statement's
    /// progress (and the shim is to end it).
    pub fn stop(&mut self) -> bool {
        std::mem::take(&mut self.owner)
    }

    /// A new statement: ownership never carries over into it.
    pub fn disown(&mut self) {
        self.owner = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_sixteenth_row_and_the_total_grows_past_a_low_estimate() {
        let mut p = Progress::default();
        assert_eq!(p.start(0), (0, 1));
        let reports: Vec<(u64, u64)> = (0..40).filter_map(|_| p.step()).collect();
        assert_eq!(reports, vec![(16, 17), (32, 33)]);
        assert!(p.stop());
        assert!(!p.stop(), "ended once");
    }

    #[test]
    fn a_good_estimate_stays_the_total() {
        let mut p = Progress::default();
        assert_eq!(p.start(100), (0, 100));
        let reports: Vec<(u64, u64)> = (0..32).filter_map(|_| p.step()).collect();
        assert_eq!(reports, vec![(16, 100), (32, 100)]);
    }

    #[test]
    fn without_ownership_nothing_is_reported_or_ended() {
        let mut p = Progress::default();
        assert_eq!(p.step(), None);
        p.start(10);
        p.disown();
        assert!((0..32).all(|_| p.step().is_none()));
        assert!(!p.stop());
    }
}
