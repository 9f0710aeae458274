//! One open table: its location, columns and codec, the scan in progress, and
//! the row last read (its key and ETag, which UPDATE's If-Match uses). Every
//! statement-level operation of the handler lands on a method here.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::batch::Batch;
use crate::budget::Budget;
use crate::call::{bucket, ctx_for, delete_all_counted, first_page, for_each_page, Ctx};
use crate::catalog::{catalogue, Name};
use crate::error::{Error, Result};
use crate::estimate;
use crate::fence;
use crate::keycodec::{self, KeyError};
use crate::keyrange::{KeyRange, ListPlan};
use crate::listing::{self, Listing};
use crate::location::{self, Location};
use crate::rowcodec::Codec;
use crate::runtime::{self, Interrupt};
use crate::scan::{Next, Scan, ScanItem};
use crate::schema::{
    fetch_for, row_cacheable, Attr, CellKind, Column, Fetch, Format, Role, TableDef, Value,
};
use crate::settings::Settings;
use crate::store::{ObjectEntry, ObjectHead, Store};
use crate::window::{Gate, Ticket};
use crate::write::{self, Expect, NewObject, Outcome};

pub fn key_index(columns: &[Column]) -> Result<usize> {
    columns
        .iter()
        .position(|c| c.role == Role::Key)
        .ok_or_else(|| Error::Engine("the table has no key column".into()))
}

pub fn codec_for(def: &TableDef) -> Result<Codec> {
    let format = def
        .format
        .unwrap_or_else(|| Format::default_for(&def.columns));
    Codec::new(&def.columns, format).map_err(|e| Error::Engine(e.to_string()))
}

/// What an object whose body is not a row of the table does to a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The statement fails, naming the object.
    Fail,
    /// A warning naming the object; the row is skipped (awss3_skip_malformed).
    Skip,
    /// CHECK TABLE: a warning naming the object, and on to the next.
    Report,
}

impl Malformed {
    fn setting(s: &Settings) -> Malformed {
        if s.skip_malformed {
            Malformed::Skip
        } else {
            Malformed::Fail
        }
    }
}

pub struct Table {
    def: TableDef,
    loc: Location,
    codec: Codec,
    key_col: usize,
    /// Object key and ETag of the row last read or written.
    current: Option<(String, String)>,
    /// The scan in progress and what it does with malformed objects (the
    /// setting as the statement started, or CHECK TABLE's reporting).
    scan: Option<(Scan, Malformed)>,
    /// Whether the scan covers the whole table, and the objects it has
    /// returned: a finished full scan is the latest row count.
    scan_full: bool,
    scan_rows: u64,
    /// This handler wrote or deleted rows while its scan ran: the scan's
    /// count is not the table's any more (the writes moved the estimate).
    scan_wrote: bool,
    /// Object keys this handler wrote while its scan runs: a later LIST page
    /// must not hand them back (an UPDATE that changes keys would otherwise
    /// meet its own new rows again: the Halloween problem).
    written_during_scan: HashSet<String>,
    /// The multi-range read in progress: point reads up to the window in
    /// flight, and what a malformed object does (the setting at its start).
    batch: Option<(Batch, Malformed)>,
    /// The multi-row INSERT in progress, if its rows are written concurrently.
    bulk: Option<Bulk>,
    /// The row last returned to the shim.
    pub row: Vec<Value>,
    /// Conditions for the statement: (is a note rather than a warning, text).
    warnings: VecDeque<(bool, String)>,
    /// Whether the statement working on the table was killed.
    stop: Interrupt,
    /// The statement's request budget (awss3_max_requests_per_statement).
    budget: Option<Arc<Budget>>,
    /// What a malformed row does in the read that produced `self.row`: the
    /// one decision, for the core's own checks and the shim's (a value that
    /// does not fit its column).
    row_mode: Malformed,
    /// ALTER ... ENGINE=AWSS3's copy into a CONNECTION: the mark its objects
    /// carry (`location::COPY_META`).
    copy_mark: Option<String>,
    /// The fence this handler holds while ALTER ... ENGINE=<other> copies
    /// the table out.
    fence: Option<fence::Held>,
}

impl Table {
    pub fn open(def: TableDef) -> Result<Table> {
        let loc = location::resolve(&def.connection, def.server.as_ref(), &def.path)
            .map_err(Error::Engine)?;
        let codec = codec_for(&def)?;
        let key_col = key_index(&def.columns)?;
        let n = def.columns.len();
        let copy_mark = location::read_sidecar(&def.path)
            .ok()
            .flatten()
            .and_then(|sc| sc.copy_id);
        Ok(Table {
            def,
            loc,
            codec,
            key_col,
            current: None,
            scan: None,
            scan_full: false,
            scan_rows: 0,
            scan_wrote: false,
            written_during_scan: HashSet::new(),
            batch: None,
            bulk: None,
            row: vec![Value::Null; n],
            warnings: VecDeque::new(),
            stop: Interrupt::NONE,
            budget: None,
            row_mode: Malformed::Fail,
            copy_mark,
            fence: None,
        })
    }

    fn ctx(&self) -> Result<Ctx> {
        let mut c = ctx_for(self.def.server.as_ref(), self.stop)?;
        if let Some(b) = &self.budget {
            c.s3 = Arc::new(c.s3.with_budget(b.clone()));
        }
        Ok(c)
    }

    /// The request budget of the statement now using the table (`None`: no
    /// limit, or between statements).
    pub fn set_budget(&mut self, budget: Option<Arc<Budget>>) {
        self.budget = budget;
    }

    /// The statement now working on this table, to ask whether it was killed
    /// (`Interrupt::NONE` between statements).
    pub fn set_interrupt(&mut self, stop: Interrupt) {
        self.stop = stop;
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// The next condition to show: `(is_note, text)`.
    pub fn take_warning(&mut self) -> Option<(bool, String)> {
        self.warnings.pop_front()
    }

    fn url(&self, object_key: &str) -> String {
        format!("s3://{}/{}", self.loc.bucket, object_key)
    }

    /// The object a lookup of `key` reads: under a PAD SPACE collation
    /// 'a ' equals 'a', and only 'a' can be stored (a key ending in a space
    /// is refused at write), so trailing spaces are dropped.
    fn lookup_key(&self, key: &[u8]) -> std::result::Result<String, KeyError> {
        let mut key = key;
        if self.def.key_pad_space {
            while let [rest @ .., b' '] = key {
                key = rest;
            }
        }
        self.object_key(key)
    }

    fn object_key(&self, key: &[u8]) -> std::result::Result<String, KeyError> {
        keycodec::object_key(&self.loc.prefix, key, self.def.key_pad_space)
    }

    fn key_error(&self, key: &[u8], e: KeyError) -> Error {
        let shown = String::from_utf8_lossy(key);
        let shown: String = shown.chars().take(80).collect();
        Error::Engine(format!(
            "key '{shown}' cannot be stored in {}: {e}; nothing was written",
            self.loc.url()
        ))
    }

    /// Fills `self.row` from what S3 returned. `Ok(false)`: not a row (the
    /// prefix's own marker object, or a malformed object skipped).
    fn fill_row(
        &mut self,
        entry: &ObjectEntry,
        head: Option<&ObjectHead>,
        body: Option<&[u8]>,
        oversize: Option<u64>,
        malformed: Malformed,
    ) -> Result<bool> {
        let Some(key) = keycodec::key_of(&self.loc.prefix, &entry.key) else {
            return Ok(false);
        };
        self.row_mode = malformed;
        for (i, c) in self.def.columns.iter().enumerate() {
            self.row[i] = match &c.role {
                Role::Key => match c.kind {
                    CellKind::Bytes => Value::Bytes(key.as_bytes().to_vec()),
                    _ => Value::Text(key.to_string()),
                },
                Role::Attr(Attr::Size) => number_value(c.kind, entry.size),
                Role::Attr(Attr::LastModified) => match &entry.last_modified {
                    Some(t) => text_value(c.kind, t),
                    None => Value::Null,
                },
                Role::Attr(Attr::Etag) => text_value(c.kind, entry.etag.trim_matches('"')),
                Role::Attr(Attr::ContentType) => {
                    match head.and_then(|h| h.content_type.as_deref()) {
                        Some(t) => text_value(c.kind, t),
                        None => Value::Null,
                    }
                }
                Role::Meta(name) => match head
                    .and_then(|h| h.meta.iter().find(|(k, _)| k == name))
                    .map(|(_, v)| v)
                {
                    Some(v) => text_value(c.kind, v),
                    None => Value::Null,
                },
                Role::Value | Role::Computed => Value::Null,
            };
        }
        if let Some(body) = body {
            let meta = head.map(|h| h.meta.as_slice()).unwrap_or(&[]);
            let decoded = match oversize {
                Some(n) => Err(format!(
                    "its body is {n} bytes or more, more than a row of the table can hold \
                     ({} bytes, from the value columns' types and max_allowed_packet): it \
                     does not fit, and was not read",
                    self.def.max_body
                )),
                None => self
                    .codec
                    .decode(body, meta, &mut self.row)
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = decoded {
                let msg = format!(
                    "object {} is not a valid row of `{}`.`{}`: {e}",
                    self.url(&entry.key),
                    self.def.db,
                    self.def.name
                );
                match malformed {
                    Malformed::Fail => {}
                    Malformed::Skip => {
                        self.warnings
                            .push_back((false, format!("AWSS3: skipped {msg}")));
                        return Ok(false);
                    }
                    Malformed::Report => {
                        self.warnings.push_back((false, format!("AWSS3: {msg}")));
                        return Ok(false);
                    }
                }
                return Err(Error::Engine(format!(
                    "{msg} (SET GLOBAL awss3_skip_malformed=ON skips such objects with a warning)"
                )));
            }
        }
        self.current = Some((entry.key.clone(), entry.etag.clone()));
        Ok(true)
    }

    /// `fill_row` from whatever a scan or batch fetched for one object.
    fn fill_item(&mut self, item: &ScanItem, malformed: Malformed) -> Result<bool> {
        match item {
            ScanItem::Listed(e) => self.fill_row(e, None, None, None, malformed),
            ScanItem::Headed(e, h) => self.fill_row(e, Some(h), None, None, malformed),
            ScanItem::Got(o) => self.fill_row(
                &o.entry,
                Some(&o.head),
                Some(&o.body),
                o.oversize,
                malformed,
            ),
        }
    }

    /// Starts a scan of the rows whose keys lie within `range` (key values,
    /// without the table prefix), in key order. `malformed`: what an object
    /// that is not a row does (`None`: as `awss3_skip_malformed` says).
    /// `whole`: the statement reads the scan to its end (no LIMIT), so its
    /// cost is known before it starts (for the request budget).
    pub fn scan_start(
        &mut self,
        needed: Vec<bool>,
        range: &KeyRange,
        malformed: Option<Malformed>,
        whole: bool,
    ) -> Result<()> {
        let c = self.ctx()?;
        let fetch = fetch_for(&self.def.columns, &needed);
        let full = range.lower.is_none() && range.upper.is_none();
        if let (true, true, Some(b), Some(n)) =
            (whole, full, &self.budget, estimate::get(&self.loc))
        {
            // Known in advance: its LISTs, and a GET or HEAD per row.
            let lists = n.div_ceil(listing::PAGE as u64).max(1);
            let expected = lists + if fetch == Fetch::ListOnly { 0 } else { n };
            if !b.allows(expected) {
                return Err(Error::Engine(format!(
                    "a full scan of `{}`.`{}` ({n} rows when last listed) needs about {expected} requests, more than awss3_max_requests_per_statement={} allows ({} used so far); nothing was sent",
                    self.def.db,
                    self.def.name,
                    b.limit(),
                    b.used()
                )));
            }
        }
        let plan = ListPlan::new(&self.loc.prefix, range, self.def.key_pad_space);
        let source = Arc::new(listing::Bucket {
            max_body: self.def.max_body,
            // CHECK TABLE reads every object: that is what it is for.
            row_cache: row_cacheable(&self.def.columns, &needed)
                && !matches!(malformed, Some(Malformed::Report)),
            ..bucket(&c.s3, &self.loc)
        });
        let listing = Listing::new(&plan.prefix, plan.start_after, listing::PAGE);
        let scan = Scan::start(
            &c.rt,
            source,
            listing,
            fetch,
            c.settings.prefetch_window,
            c.settings.scan_memory,
            plan.bounds,
        );
        self.scan = Some((scan, malformed.unwrap_or(Malformed::setting(&c.settings))));
        self.scan_full = range.lower.is_none() && range.upper.is_none();
        self.scan_rows = 0;
        self.scan_wrote = false;
        self.written_during_scan.clear();
        self.current = None;
        Ok(())
    }

    /// The greatest key value within `range` (S3 lists forwards only: LISTs
    /// up to the range's end, no GET). MAX(k) and reads "before" a key use it.
    pub fn last_in_range(&self, range: &KeyRange) -> Result<Option<Vec<u8>>> {
        let c = self.ctx()?;
        let plan = ListPlan::new(&self.loc.prefix, range, self.def.key_pad_space);
        let prefix = &self.loc.prefix;
        let src = bucket(&c.s3, &self.loc);
        let mut listing = Listing::new(&plan.prefix, plan.start_after.clone(), listing::PAGE);
        c.wait(async {
            let mut last: Option<Vec<u8>> = None;
            // The greatest in the key column's order (PAD SPACE puts 'a\t'
            // below 'a', though S3 lists it after).
            let greater = |k: &[u8], than: &Option<Vec<u8>>| {
                than.as_deref().map_or(true, |l| {
                    if plan.bounds.pad {
                        keycodec::pad_cmp(k, l) != std::cmp::Ordering::Less
                    } else {
                        k >= l
                    }
                })
            };
            while let Some(entries) = listing.next_page(&src).await? {
                for e in entries {
                    let key = e.key.as_bytes();
                    if plan.bounds.past(key) {
                        return Ok(last);
                    }
                    if plan.bounds.below(key) || plan.bounds.above(key) {
                        continue;
                    }
                    if let Some(k) = keycodec::key_of(prefix, &e.key) {
                        if greater(k.as_bytes(), &last) {
                            last = Some(k.as_bytes().to_vec());
                        }
                    }
                }
            }
            Ok::<_, crate::store::S3Error>(last)
        })
    }

    pub fn scan_end(&mut self) {
        self.scan = None;
        self.written_during_scan = HashSet::new();
    }

    /// `Ok(Some(true))`: a row is in `self.row`; `Ok(Some(false))`: end of
    /// table; `Ok(None)`: nothing yet within `wait`.
    pub fn scan_next(&mut self, wait: Duration) -> Result<Option<bool>> {
        loop {
            let Some((scan, mode)) = self.scan.as_mut() else {
                return Err(Error::Engine("no scan in progress".into()));
            };
            let skip = *mode;
            let item = match scan.next(wait) {
                Next::Row(item) => item,
                Next::End => {
                    if self.scan_full && !self.scan_wrote {
                        estimate::set(&self.loc, self.scan_rows);
                        self.scan_full = false;
                    }
                    return Ok(Some(false));
                }
                Next::Pending => return Ok(None),
                Next::Failed(e) => return Err(e.into()),
            };
            self.scan_rows += 1;
            let key = match &item {
                ScanItem::Listed(e) | ScanItem::Headed(e, _) => &e.key,
                ScanItem::Got(o) => &o.entry.key,
            };
            if self.written_during_scan.contains(key) {
                continue;
            }
            if self.fill_item(&item, skip)? {
                return Ok(Some(true));
            }
        }
    }

    /// Point lookup: `Ok(false)` when there is no such row.
    pub fn read_key(&mut self, key: &[u8], needed: &[bool]) -> Result<bool> {
        let Ok(object_key) = self.lookup_key(key) else {
            // A key S3 cannot store is in no table.
            return Ok(false);
        };
        let c = self.ctx()?;
        let skip = Malformed::setting(&c.settings);
        match fetch_for(&self.def.columns, needed) {
            Fetch::Get => {
                match c.wait(c.s3.get(&self.loc.bucket, &object_key, self.def.max_body))? {
                    Some(o) => {
                        self.fill_row(&o.entry, Some(&o.head), Some(&o.body), o.oversize, skip)
                    }
                    None => Ok(false),
                }
            }
            // Key and attributes only: a HEAD proves existence and has them all.
            Fetch::Head | Fetch::ListOnly => {
                match c.wait(c.s3.head(&self.loc.bucket, &object_key))? {
                    Some((e, h)) => self.fill_row(&e, Some(&h), None, None, skip),
                    None => Ok(false),
                }
            }
        }
    }

    /// The row at a position this statement's own read returned (filesort
    /// sorts positions, then reads the rows again). When only the key is
    /// needed, the position is the row: no request (InnoDB, too, reads the
    /// row version its scan saw). Otherwise as `read_key`.
    pub fn read_position(&mut self, key: &[u8], needed: &[bool]) -> Result<bool> {
        let key_only = self
            .def
            .columns
            .iter()
            .zip(needed)
            .all(|(c, &n)| !n || matches!(c.role, Role::Key | Role::Computed));
        match std::str::from_utf8(key) {
            Ok(k) if key_only && !k.is_empty() => {
                let entry = ObjectEntry {
                    key: format!("{}{k}", self.loc.prefix),
                    size: 0,
                    last_modified: None,
                    etag: String::new(),
                };
                let skip = Malformed::setting(&self.ctx()?.settings);
                self.fill_row(&entry, None, None, None, skip)
            }
            _ => self.read_key(key, needed),
        }
    }

    /// The row last returned cannot be stored in its columns (the shim found
    /// `why`): `Ok(())` when it is to be skipped (a warning is queued), else
    /// the error naming the object — as the read that produced it decided.
    pub fn row_malformed(&mut self, why: &str) -> Result<()> {
        let url = match &self.current {
            Some((k, _)) => self.url(k),
            None => self.loc.url(),
        };
        let msg = format!(
            "object {url} is not a valid row of `{}`.`{}`: {why}",
            self.def.db, self.def.name
        );
        match self.row_mode {
            Malformed::Skip => {
                self.warnings
                    .push_back((false, format!("AWSS3: skipped {msg}")));
                Ok(())
            }
            Malformed::Report => {
                self.warnings.push_back((false, format!("AWSS3: {msg}")));
                Ok(())
            }
            Malformed::Fail => Err(Error::Engine(format!(
                "{msg} (SET GLOBAL awss3_skip_malformed=ON skips such objects with a warning)"
            ))),
        }
    }

    /// Starts a batch of point reads (multi-range read) of the columns in
    /// `needed`; the window of reads in flight it allows.
    pub fn batch_start(&mut self, needed: &[bool]) -> Result<usize> {
        let c = self.ctx()?;
        let source = Arc::new(listing::Bucket {
            max_body: self.def.max_body,
            ..bucket(&c.s3, &self.loc)
        });
        let fetch = fetch_for(&self.def.columns, needed);
        let batch = Batch::new(
            &c.rt,
            source,
            fetch,
            c.settings.prefetch_window,
            c.settings.scan_memory,
        );
        let window = batch.window();
        self.batch = Some((batch, Malformed::setting(&c.settings)));
        self.current = None;
        Ok(window)
    }

    /// Queues the read of the row with key value `key`.
    pub fn batch_push(&mut self, key: &[u8]) -> Result<()> {
        // A key S3 cannot store is in no table: answered "absent", no request.
        let object_key = self.lookup_key(key).ok();
        let Some((batch, _)) = self.batch.as_mut() else {
            return Err(Error::Engine("no batched read in progress".into()));
        };
        batch.push(object_key).map_err(Error::Engine)
    }

    /// The answer for the oldest queued key: `Ok(None)` when none is queued,
    /// `Ok(Some(found))` otherwise (the row in `self.row` when found).
    pub fn batch_next(&mut self) -> Result<Option<bool>> {
        let Some((batch, malformed)) = self.batch.as_mut() else {
            return Err(Error::Engine("no batched read in progress".into()));
        };
        let malformed = *malformed;
        let Some(answer) = batch.take() else {
            return Ok(None);
        };
        let rt = runtime::handle()?;
        let item = runtime::wait(&rt, answer, self.stop)??;
        Ok(Some(match item {
            None => false,
            Some(item) => self.fill_item(&item, malformed)?,
        }))
    }

    /// Ends the batch; stops the reads still in flight.
    pub fn batch_end(&mut self) {
        self.batch = None;
    }

    fn check_writable(&self) -> Result<()> {
        if self.def.read_only {
            return Err(Error::ReadOnly);
        }
        fence::write_gate(&Name::of(&self.def), &self.def.path, self.stop)
    }

    /// ALTER TABLE ... ENGINE=<other> starts copying this table out: with
    /// discovery, the other servers stop writing it first (`fence`).
    pub fn fence_for_copy(&mut self) -> Result<()> {
        if self.fence.is_none() {
            self.fence = fence::fence_for_copy(&Name::of(&self.def), &self.def.path, self.stop)?;
        }
        Ok(())
    }

    /// The copy failed: the table stays, and may be written again.
    pub fn lift_fence(&mut self) -> Result<()> {
        match self.fence.take() {
            Some(held) => held.lift(&catalogue(Interrupt::NONE)?),
            None => Ok(()),
        }
    }

    /// Body, content type and metadata of a row to write.
    fn new_object(&self, values: &[Value]) -> Result<NewObject> {
        let enc = self
            .codec
            .encode(values)
            .map_err(|e| Error::Engine(e.to_string()))?;
        let mut meta = enc.meta;
        let mut content_type = None;
        for (c, v) in self.def.columns.iter().zip(values) {
            let text = match v {
                Value::Text(t) | Value::Temporal(t) | Value::Number(t) => t.clone(),
                Value::Int(i) => i.to_string(),
                Value::UInt(u) => u.to_string(),
                _ => continue,
            };
            match &c.role {
                Role::Meta(name) => {
                    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                        return Err(Error::Engine(format!(
                            "column `{}`: S3 user metadata must be printable ASCII; \
                             nothing was written",
                            c.name
                        )));
                    }
                    meta.push((name.clone(), text));
                }
                Role::Attr(Attr::ContentType) => content_type = Some(text),
                _ => {}
            }
        }
        if let Some(id) = &self.copy_mark {
            meta.push((location::COPY_META.to_string(), id.clone()));
        }
        Ok(NewObject {
            body: enc.body,
            content_type,
            meta,
        })
    }

    fn key_bytes(&self, values: &[Value]) -> Vec<u8> {
        match values.get(self.key_col) {
            Some(Value::Text(t)) => t.as_bytes().to_vec(),
            Some(Value::Bytes(b)) => b.clone(),
            _ => Vec::new(),
        }
    }

    fn note_ignored_conditions(&mut self, c: &Ctx) {
        self.warnings.push_back((
            true,
            write::ignored_conditions_note(c.s3.endpoint(), &self.loc.bucket),
        ));
    }

    /// Where the store ignores conditional writes, a table shared with other
    /// servers (discovery) is written only if the DBA accepted that two
    /// servers can both win a key (`awss3_last_writer_wins`).
    fn check_unconditional(&self, c: &Ctx, honoured: bool) -> Result<()> {
        match write::unconditional_refused(
            honoured,
            c.settings.discovery,
            c.settings.last_writer_wins,
        ) {
            false => Ok(()),
            true => Err(Error::Engine(write::unconditional_refusal(
                c.s3.endpoint(),
                &self.loc.bucket,
            ))),
        }
    }

    /// Writes a new row's object (INSERT; the new key of an UPDATE).
    async fn put_new(&mut self, c: &Ctx, object_key: &str, values: &[Value]) -> Result<String> {
        let (honoured, probed) = write::honoured(&*c.s3, &self.loc.bucket).await?;
        if probed && !honoured {
            self.note_ignored_conditions(c);
        }
        self.check_unconditional(c, honoured)?;
        let obj = self.new_object(values)?;
        match write::write(&*c.s3, &self.loc.bucket, object_key, obj, Expect::Absent).await? {
            Outcome::Written(etag) => Ok(etag),
            Outcome::Conflict => Err(Error::DupKey),
        }
    }

    /// A multi-row INSERT starts: its rows are written concurrently, up to
    /// the window at a time. Where the store ignores conditional writes, each
    /// write task does HEAD then PUT. A key repeated within the window is
    /// refused at once (see `insert_concurrent`).
    pub fn bulk_begin(&mut self) -> Result<()> {
        self.check_writable()?;
        let c = self.ctx()?;
        let (honoured, probed) = c.wait(write::honoured(&*c.s3, &self.loc.bucket))?;
        if probed && !honoured {
            self.note_ignored_conditions(&c);
        }
        self.check_unconditional(&c, honoured)?;
        self.bulk = Some(Bulk::new(BulkKind::Insert, &c.settings, c.s3.endpoint()));
        Ok(())
    }

    /// Waits for every row of the multi-row INSERT, DELETE or UPDATE; the
    /// first failure.
    pub fn bulk_end(&mut self) -> Result<()> {
        let Some(mut bulk) = self.bulk.take() else {
            return Ok(());
        };
        bulk.drain(&runtime::handle()?, self.stop)
    }

    fn bulk_of(&self, kind: BulkKind) -> bool {
        self.bulk.as_ref().is_some_and(|b| b.kind == kind)
    }

    /// One row of a multi-row INSERT: handed to a write task once one of
    /// the window's slots is free. A row that failed already fails this one.
    fn insert_concurrent(&mut self, c: &Ctx, object_key: String, values: &[Value]) -> Result<()> {
        let obj = self.new_object(values)?;
        let Some(bulk) = self.bulk.as_mut() else {
            return Err(Error::Engine("no multi-row INSERT in progress".into()));
        };
        bulk.collect_finished(c)?;
        // A key repeated while this statement's earlier write of it is in
        // flight is a duplicate whatever that write's outcome (it stores the
        // key, or fails because the key exists): refused here, so the later
        // row can never win the race and replace the earlier one's value
        // (conditional PUTs), and two HEADs cannot both find nothing (HEAD
        // then PUT). Once the earlier task is done, the store itself says.
        if let Some(at) = bulk.keys.iter().position(|k| *k == object_key) {
            // Its outcome first: a failure other than the duplicate is the
            // statement's error (that row came first), not this duplicate.
            bulk.keys.remove(at);
            let earlier = match bulk.tasks.remove(at) {
                Some(task) => task_result(runtime::wait(&c.rt, task, c.stop)?),
                None => Ok(()),
            };
            return match earlier {
                Ok(()) | Err(Error::DupKey) | Err(Error::DupKeyDeferred(_)) => Err(Error::DupKey),
                Err(e) => Err(e),
            };
        }
        let permit = bulk.slot(c, obj.body.len() as u64)?;
        let (s3, bucket) = (c.s3.clone(), self.loc.bucket.clone());
        let prefix_len = self.loc.prefix.len();
        let loc = self.loc.clone();
        bulk.spawn(c, object_key.clone(), permit, async move {
            let dup = || Error::DupKeyDeferred(object_key[prefix_len..].to_string());
            match write::write(&*s3, &bucket, &object_key, obj, Expect::Absent).await? {
                Outcome::Written(_) => {
                    estimate::add(&loc, 1);
                    Ok(())
                }
                Outcome::Conflict => Err(dup()),
            }
        });
        self.current = None;
        Ok(())
    }

    pub fn insert(&mut self, values: &[Value]) -> Result<()> {
        self.check_writable()?;
        let key = self.key_bytes(values);
        let object_key = self.object_key(&key).map_err(|e| self.key_error(&key, e))?;
        let c = self.ctx()?;
        if self.bulk_of(BulkKind::Insert) {
            return self.insert_concurrent(&c, object_key, values);
        }
        let etag = c.wait(self.put_new(&c, &object_key, values))?;
        estimate::add(&self.loc, 1);
        self.note_written(&object_key);
        self.current = Some((object_key, etag));
        Ok(())
    }

    /// UPDATE of the row whose key was `old_key`: If-Match on the ETag this
    /// statement read; a new key writes the new object, then deletes the old.
    pub fn update(&mut self, old_key: &[u8], values: &[Value]) -> Result<()> {
        self.check_writable()?;
        let old = self
            .object_key(old_key)
            .map_err(|e| self.key_error(old_key, e))?;
        let key = self.key_bytes(values);
        let new = self.object_key(&key).map_err(|e| self.key_error(&key, e))?;
        let c = self.ctx()?;
        let etag = match &self.current {
            Some((k, etag)) if *k == old => etag.clone(),
            // Not the row last read (should not happen): read its ETag now.
            _ => match c.wait(c.s3.head(&self.loc.bucket, &old))? {
                Some((e, _)) => e.etag,
                None => return Err(Error::RecordChanged),
            },
        };
        if self.bulk_of(BulkKind::Update) {
            if new == old {
                return self.update_concurrent(&c, new, etag, values);
            }
            // A key change goes alone: the new key may be a row in flight.
            if let Some(bulk) = self.bulk.as_mut() {
                bulk.drain(&c.rt, c.stop)?;
            }
        }
        if new != old {
            let new_etag = c.wait(self.put_new(&c, &new, values))?;
            self.note_written(&new);
            // The old object goes only if it is still what this statement
            // read; if another writer changed it meanwhile, its change must
            // not vanish: undo the new object and report the conflict.
            let unchanged = c.wait(write::unchanged(&*c.s3, &self.loc.bucket, &old, &etag));
            self.current = None;
            return match unchanged {
                Ok(true) => match c.wait(c.s3.delete(&self.loc.bucket, &old)) {
                    Ok(()) => {
                        self.current = Some((new, new_etag));
                        Ok(())
                    }
                    // Killed, over budget or failed: the DELETE may or may
                    // not have been applied.
                    Err(e) => self.undo_key_change(&old, &new, e, true),
                },
                Ok(false) => self.undo_key_change(&old, &new, Error::RecordChanged, false),
                Err(e) => self.undo_key_change(&old, &new, e, false),
            };
        }
        let (honoured, _) = c.wait(write::honoured(&*c.s3, &self.loc.bucket))?;
        self.check_unconditional(&c, honoured)?;
        let obj = self.new_object(values)?;
        match c.wait(write::write(
            &*c.s3,
            &self.loc.bucket,
            &new,
            obj,
            Expect::ETag(&etag),
        ))? {
            Outcome::Written(etag) => {
                self.current = Some((new, etag));
                Ok(())
            }
            Outcome::Conflict => Err(Error::RecordChanged),
        }
    }

    /// A key-changing UPDATE stopped after writing the new object `new`
    /// (`why`): the row operation is undone, so that the row is at one key.
    /// The undo is not stopped by the KILL or budget that may have caused it
    /// (no budget, no interrupt: bounded by the request timeout and retries).
    /// `delete_sent`: this statement's DELETE of `old` may have been applied
    /// (its answer lost); if `old` is gone the row moved, and `new` stays.
    fn undo_key_change(&self, old: &str, new: &str, why: Error, delete_sent: bool) -> Result<()> {
        let undo = ctx_for(self.def.server.as_ref(), Interrupt::NONE).and_then(|u| {
            let old_gone = delete_sent && u.wait(u.s3.head(&self.loc.bucket, old))?.is_none();
            if old_gone {
                Ok(())
            } else {
                u.wait(u.s3.delete(&self.loc.bucket, new))
            }
        });
        match undo {
            Ok(()) => Err(match why {
                Error::Engine(m) => Error::Engine(format!(
                    "{m}; the UPDATE of this row was undone (the new object {} was removed again)",
                    self.url(new)
                )),
                other => other,
            }),
            Err(e) => Err(Error::Engine(format!(
                "{}; the new object {} could not be removed again ({e}): the row may be at both keys",
                match why {
                    Error::Engine(m) => m,
                    other => other.to_string(),
                },
                self.url(new)
            ))),
        }
    }

    /// An UPDATE of several rows starts: each row keeping its key is written
    /// by a task, up to the window at a time, If-Match on the ETag read
    /// (`update` queues, `bulk_end` waits).
    pub fn bulk_update_begin(&mut self) -> Result<()> {
        self.check_writable()?;
        let c = self.ctx()?;
        // As `update` does for each row (which notes nothing either).
        let (honoured, _) = c.wait(write::honoured(&*c.s3, &self.loc.bucket))?;
        self.check_unconditional(&c, honoured)?;
        self.bulk = Some(Bulk::new(BulkKind::Update, &c.settings, c.s3.endpoint()));
        Ok(())
    }

    /// One row of a multi-row UPDATE that keeps its key: handed to a task
    /// once a slot of the window is free. A row that failed already fails
    /// this one.
    fn update_concurrent(
        &mut self,
        c: &Ctx,
        object_key: String,
        etag: String,
        values: &[Value],
    ) -> Result<()> {
        let obj = self.new_object(values)?;
        let Some(bulk) = self.bulk.as_mut() else {
            return Err(Error::Engine("no multi-row UPDATE in progress".into()));
        };
        bulk.collect_finished(c)?;
        let permit = bulk.slot(c, obj.body.len() as u64)?;
        let (s3, bucket) = (c.s3.clone(), self.loc.bucket.clone());
        bulk.spawn(c, object_key.clone(), permit, async move {
            match write::write(&*s3, &bucket, &object_key, obj, Expect::ETag(&etag)).await? {
                Outcome::Written(_) => Ok(()),
                Outcome::Conflict => Err(Error::RecordChanged),
            }
        });
        self.current = None;
        Ok(())
    }

    /// A DELETE of several rows starts: its DELETE requests are sent
    /// concurrently, up to the window at a time (`delete` queues, `bulk_end`
    /// waits). A DELETE needs no condition: nothing to probe.
    pub fn bulk_delete_begin(&mut self) -> Result<()> {
        self.check_writable()?;
        let c = self.ctx()?;
        self.bulk = Some(Bulk::new(BulkKind::Delete, &c.settings, c.s3.endpoint()));
        Ok(())
    }

    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.check_writable()?;
        let object_key = self.object_key(key).map_err(|e| self.key_error(key, e))?;
        let c = self.ctx()?;
        if self.bulk_of(BulkKind::Delete) {
            return self.delete_concurrent(&c, object_key);
        }
        c.wait(c.s3.delete(&self.loc.bucket, &object_key))?;
        estimate::add(&self.loc, -1);
        self.scan_wrote |= self.scan.is_some();
        self.current = None;
        Ok(())
    }

    /// One row of a multi-row DELETE: handed to a task once a slot of the
    /// window is free. A row that failed already fails this one.
    fn delete_concurrent(&mut self, c: &Ctx, object_key: String) -> Result<()> {
        let Some(bulk) = self.bulk.as_mut() else {
            return Err(Error::Engine("no multi-row DELETE in progress".into()));
        };
        bulk.collect_finished(c)?;
        let permit = bulk.slot(c, 0)?;
        let (s3, bucket, loc) = (c.s3.clone(), self.loc.bucket.clone(), self.loc.clone());
        bulk.spawn(c, object_key.clone(), permit, async move {
            s3.delete(&bucket, &object_key).await?;
            estimate::add(&loc, -1);
            Ok(())
        });
        self.scan_wrote |= self.scan.is_some();
        self.current = None;
        Ok(())
    }

    fn note_written(&mut self, object_key: &str) {
        if self.scan.is_some() {
            self.written_during_scan.insert(object_key.to_string());
            self.scan_wrote = true;
        }
    }

    /// The number of rows (objects under the prefix, less the prefix's own
    /// marker): one LIST pass. DELETE without WHERE reports it.
    pub fn count(&self) -> Result<u64> {
        let c = self.ctx()?;
        let prefix = &self.loc.prefix;
        let counted = AtomicU64::new(0);
        let expected = estimate::get(&self.loc).unwrap_or(0);
        c.wait_reporting(
            for_each_page(&c.s3, &self.loc, |entries| {
                let rows = entries
                    .iter()
                    .filter(|e| keycodec::key_of(prefix, &e.key).is_some())
                    .count() as u64;
                counted.fetch_add(rows, Ordering::Relaxed);
                async { Ok(()) }
            }),
            &|| (counted.load(Ordering::Relaxed), expected),
        )?;
        let n = counted.load(Ordering::Relaxed);
        estimate::set(&self.loc, n);
        Ok(n)
    }

    /// The row count the optimizer's estimates use: the last one listed, or
    /// (first use since start-up) one LIST page: exact for a table of up to
    /// 1000 rows, else at least that.
    pub fn known_rows(&self) -> Option<u64> {
        estimate::get(&self.loc)
    }

    pub fn rows_estimate(&self) -> Result<u64> {
        if let Some(n) = estimate::get(&self.loc) {
            return Ok(n);
        }
        let c = self.ctx()?;
        match c.wait(first_page(&c.s3, &self.loc, listing::PAGE)) {
            Ok((_, n)) => {
                estimate::set(&self.loc, n);
                Ok(n)
            }
            // KILL is the statement's own business: try again next time.
            Err(Error::Killed) => Err(Error::Killed),
            // Not listable now (denied, down): the guess stands until a
            // scan or ANALYZE lists the table, rather than a failing LIST
            // (and its retries) in every statement.
            Err(e) => {
                estimate::set(&self.loc, GUESSED_ROWS);
                Err(e)
            }
        }
    }

    /// TRUNCATE / DELETE without WHERE: LISTs + one DeleteObjects per 1000 keys.
    /// No object is left to hold the fields of dropped columns: their names
    /// are free again.
    pub fn truncate(&mut self) -> Result<u64> {
        self.check_writable()?;
        let c = self.ctx()?;
        self.current = None;
        let done = AtomicU64::new(0);
        let expected = estimate::get(&self.loc).unwrap_or(0);
        let n = c.wait_reporting(delete_all_counted(&c.s3, &self.loc, &done), &|| {
            (done.load(Ordering::Relaxed), expected)
        })?;
        estimate::set(&self.loc, 0);
        let mut sc = location::sidecar_or_default(&self.def.path)?;
        if !sc.dropped.is_empty() {
            sc.dropped.clear();
            location::write_sidecar(&self.def.path, &sc).map_err(Error::Engine)?;
        }
        Ok(n)
    }
}

/// The row estimate of a table that could not be listed.
pub const GUESSED_ROWS: u64 = 1000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BulkKind {
    Insert,
    Delete,
    Update,
}

/// The write tasks of a multi-row INSERT, DELETE or UPDATE and the window's
/// free slots.
struct Bulk {
    /// The statement's own kind of row goes concurrently, no other (DELETE
    /// ... FOR PORTION OF inserts too).
    kind: BulkKind,
    gate: Arc<Gate>,
    /// In row order.
    tasks: VecDeque<tokio::task::JoinHandle<Result<()>>>,
    /// The object key of each task, in the same order.
    keys: VecDeque<String>,
    /// Set by a task that failed, before it gives its place back: a row
    /// waiting for that place must not be sent.
    failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Bulk {
    fn new(kind: BulkKind, settings: &Settings, endpoint: &str) -> Bulk {
        Bulk {
            kind,
            gate: Arc::new(Gate::new(
                settings.prefetch_window,
                settings.scan_memory,
                endpoint,
            )),
            tasks: VecDeque::new(),
            keys: VecDeque::new(),
            failed: Arc::default(),
        }
    }

    /// Takes the outcomes of the tasks done at the front (row order): the
    /// first failure is the statement's.
    fn collect_finished(&mut self, c: &Ctx) -> Result<()> {
        while self.tasks.front().is_some_and(|t| t.is_finished()) {
            if let Some(task) = self.tasks.pop_front() {
                self.keys.pop_front();
                task_result(c.rt.block_on(task))?;
            }
        }
        Ok(())
    }

    /// Waits for a free slot of the window for a write of `bytes`; killed
    /// while it is full, stops what is in flight.
    /// A row that failed while this one waited fails it: no row after a
    /// failed one is sent once that failure is known.
    fn slot(&mut self, c: &Ctx, bytes: u64) -> Result<Ticket> {
        match runtime::wait(&c.rt, Ticket::take(self.gate.clone(), bytes), c.stop) {
            Ok(p) => {
                let ticket =
                    p.ok_or_else(|| Error::Engine("the write window was closed".into()))?;
                if self.failed.load(Ordering::Acquire) {
                    drop(ticket);
                    self.drain(&c.rt, c.stop)?;
                    return Err(Error::Engine(
                        "an earlier row of this statement failed".into(),
                    ));
                }
                Ok(ticket)
            }
            Err(e) => {
                self.tasks.iter().for_each(|t| t.abort());
                Err(e)
            }
        }
    }
    /// Starts the write of `object_key` in its window place `ticket`.
    fn spawn<F>(&mut self, c: &Ctx, object_key: String, ticket: Ticket, write: F)
    where
        F: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        let mut place = Place {
            failed: Some(self.failed.clone()),
            ticket: Some(ticket),
        };
        self.keys.push_back(object_key);
        self.tasks.push_back(c.rt.spawn(async move {
            let done = write.await;
            if done.is_ok() {
                place.failed = None;
            }
            drop(place);
            done
        }));
    }

    /// Waits for every task, in row order so that the error names the first
    /// failing row; killed, the rows not yet written are not sent.
    fn drain(&mut self, rt: &tokio::runtime::Handle, stop: Interrupt) -> Result<()> {
        let aborts: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
        self.keys.clear();
        let tasks = std::mem::take(&mut self.tasks);
        let drained = runtime::wait(
            rt,
            async {
                let mut first = Ok(());
                for task in tasks {
                    let done = task_result(task.await);
                    if first.is_ok() {
                        first = done;
                    }
                }
                first
            },
            stop,
        );
        if drained.is_err() {
            aborts.iter().for_each(|a| a.abort());
        }
        drained?
    }
}

/// A multi-row write's place in the window, held by its task. Dropped (the
/// task done, failed, panicked or stopped), it first marks the batch failed
/// unless the write succeeded (`failed` taken out), then gives the place
/// back: the row waiting for the place sees the failure.
struct Place {
    failed: Option<Arc<std::sync::atomic::AtomicBool>>,
    ticket: Option<Ticket>,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(f) = self.failed.take() {
            f.store(true, Ordering::Release);
        }
        drop(self.ticket.take());
    }
}

fn task_result(done: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    done.map_err(|e| Error::Engine(format!("a write task failed: {e}")))?
}

/// An unsigned number (object size) in a column of any kind.
fn number_value(kind: CellKind, n: u64) -> Value {
    match kind {
        CellKind::Int => Value::Int(n.min(i64::MAX as u64) as i64),
        CellKind::UInt => Value::UInt(n),
        CellKind::Double => Value::Double(n as f64),
        CellKind::Float => Value::Float(n as f32),
        CellKind::Bytes => Value::Bytes(n.to_string().into_bytes()),
        CellKind::Number | CellKind::Text | CellKind::Temporal => Value::Number(n.to_string()),
    }
}

/// Text (times, ETags, content types, metadata) in a column of any kind.
fn text_value(kind: CellKind, t: &str) -> Value {
    match kind {
        CellKind::Bytes => Value::Bytes(t.as_bytes().to_vec()),
        CellKind::Temporal => Value::Temporal(t.to_string()),
        _ => Value::Text(t.to_string()),
    }
}
