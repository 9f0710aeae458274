//! `awss3_max_requests_per_statement`: the requests one statement may send,
//! shared by every table the statement uses and every task it starts. Each
//! attempt (retries included: they are billed) is charged before it is sent;
//! past the limit nothing more is sent and the statement fails. Where the
//! count is known in advance (a full scan of a table whose row count was
//! listed), the statement fails before its first request.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst).min(self.limit)
    }

    /// Takes one request from the budget; `false` when none is left.
    pub fn charge(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| {
                (u < self.limit).then_some(u + 1)
            })
            .is_ok()
    }

    /// Whether `n` more requests fit.
    pub fn allows(&self, n: u64) -> bool {
        self.used().saturating_add(n) <= self.limit
    }

    /// The message of a statement stopped by the limit.
    pub fn exceeded(&self) -> String {
        format!(
            "the statement reached awss3_max_requests_per_statement={} ({} requests sent); \
             nothing more was sent",
            self.limit,
            self.used()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn charges_up_to_the_limit_across_threads() {
        let b = Arc::new(Budget::new(1000));
        let granted: u64 = (0..8)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..300).filter(|_| b.charge()).count() as u64)
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(granted, 1000);
        assert_eq!(b.used(), 1000);
        assert!(!b.charge());
        assert!(b
            .exceeded()
            .contains("awss3_max_requests_per_statement=1000 (1000 requests sent)"));
    }

    #[test]
    fn allows_what_is_left() {
        let b = Budget::new(10);
        assert!(b.allows(10));
        assert!(!b.allows(11));
        for _ in 0..4 {
            assert!(b.charge());
        }
        assert!(b.allows(6));
        assert!(!b.allows(7));
    }
}
