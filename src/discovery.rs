//! Which names SHOW TABLES (the server's table discovery) lists for a
//! database: the server's list (the names its .frm files give), the tables
//! the shared catalogue has, and this server's tables that were shared.
//! Names are compared as bytes, as the server gives them.

/// What to change in the server's list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Indexes into the catalogue's names: the names to add, each once.
    pub add: Vec<usize>,
    /// Indexes into the server's list, ascending: the names to remove.
    pub drop: Vec<usize>,
}

/// `listed`: the server's list; `shared`: the catalogue's names; `here`: this
/// server's tables that were in the catalogue (table names, decoded from their
/// file names); `dropping_db`: the list is for DROP DATABASE.
///
/// A catalogue name the server does not list is another server's table: added.
/// A table this server shared that the catalogue no longer has was dropped or
/// renamed by another server: its .frm here is stale (the next statement on
/// it would say so), so it is removed from the list. Not for DROP DATABASE,
/// which drops what it lists (and the rest of the directory must be files it
/// knows). And never every name: the server's de-duplication of an empty list
/// leaves one element, so when all would go, the list stays as it is.
pub fn changes(listed: &[&[u8]], shared: &[&[u8]], here: &[&[u8]], dropping_db: bool) -> Changes {
    let mut add: Vec<usize> = Vec::new();
    for (i, name) in shared.iter().enumerate() {
        if !listed.contains(name) && !add.iter().any(|&j| shared[j] == *name) {
            add.push(i);
        }
    }
    let mut drop: Vec<usize> = here
        .iter()
        .filter(|name| !shared.contains(name))
        .filter_map(|name| listed.iter().position(|l| l == name))
        .collect();
    drop.sort_unstable();
    drop.dedup();
    if dropping_db || drop.len() >= listed.len() + add.len() {
        drop.clear();
    }
    Changes { add, drop }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(listed: &[&str], shared: &[&str], here: &[&str], dropping_db: bool) -> Changes {
        changes(&b(listed), &b(shared), &b(here), dropping_db)
    }

    fn b<'a>(v: &[&'a str]) -> Vec<&'a [u8]> {
        v.iter().map(|s| s.as_bytes()).collect()
    }

    #[test]
    fn catalogue_names_not_listed_are_added_once() {
        let c = run(&["a", "b"], &["b", "c", "c", "d"], &[], false);
        assert_eq!(c.add, vec![1, 3]);
        assert!(c.drop.is_empty());
    }

    #[test]
    fn tables_shared_from_here_that_the_catalogue_lost_are_dropped() {
        let c = run(
            &["a", "gone", "b", "x"],
            &["a", "b"],
            &["x", "gone", "a"],
            false,
        );
        assert_eq!(
            c,
            Changes {
                add: vec![],
                drop: vec![1, 3]
            }
        );
        // A name still in the catalogue stays; one not listed is nothing to drop.
        let c = run(&["a"], &["a", "n"], &["a", "zzz"], false);
        assert_eq!(
            c,
            Changes {
                add: vec![1],
                drop: vec![]
            }
        );
    }

    #[test]
    fn nothing_is_dropped_for_drop_database_or_when_every_name_would_go() {
        let c = run(&["a", "b"], &["c"], &["a"], true);
        assert_eq!(
            c,
            Changes {
                add: vec![0],
                drop: vec![]
            }
        );
        let c = run(&["a", "b"], &[], &["a", "b"], false);
        assert!(c.drop.is_empty());
        // An added name counts: one remains.
        let c = run(&["a", "b"], &["c"], &["a", "b"], false);
        assert_eq!(
            c,
            Changes {
                add: vec![0],
                drop: vec![0, 1]
            }
        );
    }
}
