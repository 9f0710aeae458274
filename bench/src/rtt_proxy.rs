//! rtt-proxy: a TCP proxy on loopback that adds a network round-trip time,
//! for the benchmark (`make bench`). The same behaviour as
//! scripts/rtt_proxy.py, without its floor (a Python event loop serving every
//! connection): every chunk of bytes is held RTT/2 in each direction, in order
//! per connection, so a request and its answer cost one RTT more; a new
//! connection pays one RTT more on its first bytes (the TCP handshake a real
//! network costs) unless --no-connect-rtt. HTTP/1.1 requests are counted by S3
//! operation from the request heads (bodies skipped by Content-Length);
//! SIGUSR1 writes the counts as JSON to PORTFILE.stats (temporary file, then
//! rename).
//!
//! usage: rtt-proxy UPSTREAM_HOST:PORT PORTFILE [--rtt-ms MS] [--seconds N] [--no-connect-rtt]
//! Listens on 127.0.0.1 on a free port, writes it to PORTFILE and the pid to
//! PORTFILE.pid, and exits by itself after N seconds (default 1800). The
//! upstream must be a loopback address.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// Timers fire up to a millisecond late (tokio's wheel has 1 ms slots): wake
/// this much early, so the delay is RTT/2 on average rather than RTT/2 + ~1 ms.
const EARLY: Duration = Duration::from_micros(800);
/// Chunks in flight per direction before reading stops (back-pressure).
const QUEUE: usize = 256;

type Counts = Arc<Mutex<BTreeMap<&'static str, u64>>>;

fn bump(counts: &Counts, what: &'static str) {
    if let Ok(mut c) = counts.lock() {
        *c.entry(what).or_default() += 1;
    }
}

struct Opts {
    upstream: SocketAddr,
    portfile: String,
    half: Duration,
    seconds: f64,
    connect_rtt: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: rtt-proxy UPSTREAM_HOST:PORT PORTFILE [--rtt-ms MS] [--seconds N] [--no-connect-rtt]"
    );
    std::process::exit(2)
}

fn parse() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args[0].starts_with('-') {
        usage();
    }
    let opt = |name: &str, default: f64| -> f64 {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage()),
            None => default,
        }
    };
    let upstream = args[0]
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| {
            eprintln!("rtt-proxy: cannot resolve {}", args[0]);
            std::process::exit(2)
        });
    let loopback = match upstream.ip() {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback(),
    };
    if !loopback {
        eprintln!("rtt-proxy: upstream {upstream} is not a loopback address; refusing");
        std::process::exit(2);
    }
    Opts {
        upstream,
        portfile: args[1].clone(),
        half: Duration::from_secs_f64(opt("--rtt-ms", 20.0) / 2000.0),
        seconds: opt("--seconds", 1800.0),
        connect_rtt: !args.iter().any(|a| a == "--no-connect-rtt"),
    }
}

/// Reads HTTP/1.1 request heads from a client's byte stream and counts them
/// by S3 operation; gives up on a connection whose framing it cannot follow.
struct RequestCounter {
    head: Vec<u8>,
    skip: u64,
    lost: bool,
    counts: Counts,
}

impl RequestCounter {
    fn feed(&mut self, mut data: &[u8]) {
        while !self.lost && !data.is_empty() {
            if self.skip > 0 {
                let step = (self.skip as usize).min(data.len());
                self.skip -= step as u64;
                data = &data[step..];
                continue;
            }
            self.head.extend_from_slice(data);
            data = &[];
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                if self.head.len() > 65536 {
                    self.give_up();
                }
                return;
            };
            let rest = self.head.split_off(end + 4);
            let head = std::mem::take(&mut self.head);
            if !self.count(&head[..end]) {
                return;
            }
            // What followed the head: body bytes to skip, then the next head.
            let step = (self.skip as usize).min(rest.len());
            self.skip -= step as u64;
            if step < rest.len() {
                self.feed(&rest[step..]);
            }
        }
    }

    fn give_up(&mut self) {
        self.lost = true;
        self.head.clear();
        bump(&self.counts, "unparsed_connections");
    }

    fn count(&mut self, head: &[u8]) -> bool {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
        if first.len() != 3 || !first[2].starts_with("HTTP/") {
            self.give_up();
            return false;
        }
        let (method, target) = (first[0].to_ascii_uppercase(), first[1]);
        let mut length = 0u64;
        for line in lines {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            } else if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked")
            {
                bump(&self.counts, op(&method, target));
                self.give_up();
                return false;
            }
        }
        bump(&self.counts, op(&method, target));
        self.skip = length;
        true
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The S3 operation of a request (as scripts/rtt_proxy.py names them).
fn op(method: &str, target: &str) -> &'static str {
    let (mut path, query) = target.split_once('?').unwrap_or((target, ""));
    let absolute;
    if let Some(rest) = path.strip_prefix("http://") {
        absolute = format!("/{}", rest.split_once('/').map_or("", |(_, p)| p));
        path = &absolute;
    }
    match method {
        "GET" => {
            // An object GET names bucket and key (path style); a GET of the
            // bucket is a listing.
            let bucket_only = path.trim_end_matches('/').matches('/').count() <= 1;
            if query.contains("list-type=") || (bucket_only && !query.contains("uploads")) {
                "list"
            } else {
                "get"
            }
        }
        "POST" if query.starts_with("delete") => "delete",
        "HEAD" => "head",
        "PUT" => "put",
        "DELETE" => "delete",
        "POST" => "post",
        _ => "other",
    }
}

/// One direction of a connection: what `from` sends reaches `to` `delay`
/// later (plus `first` on the first bytes), in order; EOF passes on too.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    delay: Duration,
    first: Duration,
    mut counter: Option<RequestCounter>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(QUEUE);
    let reader = tokio::spawn(async move {
        let mut extra = first;
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let due = (Instant::now() + delay + extra).max(last);
            extra = Duration::ZERO;
            last = due;
            if n == 0 {
                let _ = tx.send((due, None)).await;
                return;
            }
            if let Some(c) = counter.as_mut() {
                c.feed(&buf[..n]);
            }
            if tx.send((due, Some(buf[..n].to_vec()))).await.is_err() {
                return;
            }
        }
    });
    while let Some((due, data)) = rx.recv().await {
        sleep_until(due.checked_sub(EARLY).unwrap_or(due)).await;
        match data {
            Some(d) => {
                if to.write_all(&d).await.is_err() {
                    break;
                }
            }
            None => {
                let _ = to.shutdown().await;
                break;
            }
        }
    }
    reader.abort();
}

async fn serve(client: TcpStream, o: Arc<Opts>, counts: Counts) {
    bump(&counts, "connections");
    let upstream = match TcpStream::connect(o.upstream).await {
        Ok(u) => u,
        Err(_) => {
            bump(&counts, "upstream_refused");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let connect = if o.connect_rtt {
        o.half * 2
    } else {
        Duration::ZERO
    };
    let counter = RequestCounter {
        head: Vec::new(),
        skip: 0,
        lost: false,
        counts: counts.clone(),
    };
    let up = tokio::spawn(pump(cr, uw, o.half, connect, Some(counter)));
    let down = tokio::spawn(pump(ur, cw, o.half, Duration::ZERO, None));
    let _ = up.await;
    let _ = down.await;
}

fn write_stats(portfile: &str, counts: &Counts) {
    let body = match counts.lock() {
        Ok(c) => {
            let fields: Vec<String> = c.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            format!("{{{}}}", fields.join(", "))
        }
        Err(_) => return,
    };
    let tmp = format!("{portfile}.stats.tmp");
    if std::fs::write(&tmp, body).is_ok() {
        let _ = std::fs::rename(&tmp, format!("{portfile}.stats"));
    }
}

#[tokio::main]
async fn main() {
    let o = Arc::new(parse());
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rtt-proxy: cannot listen: {e}");
            std::process::exit(1)
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let written = std::fs::write(
        format!("{}.pid", o.portfile),
        std::process::id().to_string(),
    )
    .and_then(|_| std::fs::write(&o.portfile, port.to_string()));
    if let Err(e) = written {
        eprintln!("rtt-proxy: cannot write {}: {e}", o.portfile);
        std::process::exit(1);
    }
    let counts: Counts = Arc::default();
    {
        let (counts, portfile) = (counts.clone(), o.portfile.clone());
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
                return;
            };
            while usr1.recv().await.is_some() {
                write_stats(&portfile, &counts);
            }
        });
    }
    let deadline = tokio::time::sleep(Duration::from_secs_f64(o.seconds));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(serve(client, o.clone(), counts.clone()));
                }
            }
        }
    }
}
