//! Lookups one key at a time (a join without batched key access): counted per
//! statement, so that the statement is told once how to batch them.

/// Lookups in one statement before the note.
pub const NOTE_AFTER: u64 = 64;

/// One handler's count of the current statement's lookups.
#[derive(Debug, Default)]
pub struct Lookups {
    /// The server's query id of the statement counted (0: none yet).
    query: u64,
    count: u64,
}

impl Lookups {
    /// One more lookup in statement `query`: whether to note it now (once per
    /// statement). `batchable`: the statement is one the server could batch
    /// and does not yet (a SELECT below join_cache_level 5: the server never
    /// batches UPDATE's or DELETE's lookups).
    pub fn count(&mut self, query: u64, batchable: bool) -> bool {
        if self.query != query {
            self.query = query;
            self.count = 0;
        }
        self.count += 1;
        self.count == NOTE_AFTER && batchable
    }
}

/// The note for table `db`.`table`.
pub fn note(db: &str, table: &str) -> String {
    format!(
        "AWSS3: `{db}`.`{table}` is read one key at a time ({NOTE_AFTER} lookups so far in \
         this statement); SET join_cache_level=6 lets joins use batched key access, up to \
         awss3_prefetch_window reads in flight"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_once_at_the_sixty_fourth_lookup_of_a_statement() {
        let mut l = Lookups::default();
        let due: Vec<u64> = (1..=200).filter(|_| l.count(7, true)).map(|_| 0).collect();
        assert_eq!(due.len(), 1);
        let mut l = Lookups::default();
        assert!((1..NOTE_AFTER).all(|_| !l.count(7, true)));
        assert!(l.count(7, true));
        // A new statement counts from zero again.
        assert!((1..NOTE_AFTER).all(|_| !l.count(8, true)));
        assert!(l.count(8, true));
    }

    #[test]
    fn statements_that_cannot_batch_are_counted_but_not_noted() {
        let mut l = Lookups::default();
        assert!((0..NOTE_AFTER).all(|_| !l.count(3, false)));
        // The count went past the threshold: no late note in that statement.
        assert!(!l.count(3, true));
    }

    #[test]
    fn the_note_names_the_table_and_the_setting() {
        let n = note("d", "t");
        assert!(
            n.starts_with("AWSS3: `d`.`t` is read one key at a time (64 lookups"),
            "{n}"
        );
        assert!(n.contains("join_cache_level=6"), "{n}");
    }
}
