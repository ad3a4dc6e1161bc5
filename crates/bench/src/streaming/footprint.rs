//! What subscriptions cost the gateway: `dualrpc serve` as its own process over a simulated
//! cluster, its resident memory and CPU read from `/proc` while clients hold N subscriptions
//! (default 1,000) in two shapes, each on a fresh process:
//!
//! - **distinct** — N `accountSubscribe` on N different accounts, 250 per connection: N
//!   distinct subscriptions, each opened on every provider (N × providers upstream
//!   subscriptions). Nothing is created at those accounts, so this is the cost of holding
//!   them (state, pings).
//! - **shared** — N connections, each with the same `logsSubscribe` on the launchpad: one
//!   subscription per provider upstream, every launch fanned out to N clients. This is the
//!   cost of forwarding (dedup once, N sends).
//!
//! Memory is the resident set's growth over the idle process; CPU is the process's user +
//! system time over a window after every subscription is confirmed, as a share of one core.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dualrpc_sim::{Cluster, base58_encode};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::client::{notified_signature, subscribe_frame};
use crate::overhead::GatewayProcess;

/// `accountSubscribe` requests per client connection in the distinct shape (the gateway's
/// default `max_per_connection` is 256).
const PER_CONNECTION: usize = 250;
/// Time the process gets to settle before and after subscribing.
const SETTLE: Duration = Duration::from_secs(1);

/// The two shapes of [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// N subscriptions on N accounts.
    Distinct,
    /// N clients of one logs subscription.
    Shared,
}

impl Shape {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Distinct => "distinct",
            Shape::Shared => "shared",
        }
    }
}

/// One shape's measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Which shape.
    pub shape: Shape,
    /// Client subscriptions held.
    pub subscriptions: usize,
    /// Client connections holding them.
    pub connections: usize,
    /// Subscriptions the providers held for the gateway.
    pub upstream_subscriptions: u64,
    /// Resident set of the idle gateway (KiB).
    pub idle_rss_kib: u64,
    /// Resident set with the subscriptions held (KiB).
    pub rss_kib: u64,
    /// Gateway CPU over the window, in % of one core.
    pub cpu_percent: f64,
    /// Notifications the clients received per second during the window.
    pub notifications_per_s: f64,
    /// The CPU window.
    pub window: Duration,
}

impl Row {
    /// Resident memory per 1,000 client subscriptions (MiB).
    pub fn mib_per_1000(&self) -> f64 {
        let grown = self.rss_kib.saturating_sub(self.idle_rss_kib) as f64 / 1024.0;
        grown * 1000.0 / self.subscriptions.max(1) as f64
    }

    /// CPU per 1,000 client subscriptions (% of one core).
    pub fn cpu_per_1000(&self) -> f64 {
        self.cpu_percent * 1000.0 / self.subscriptions.max(1) as f64
    }
}

/// Measures both shapes with `subscriptions` each (see the module docs).
pub async fn run(
    bin: &Path,
    dir: &Path,
    cluster: &Cluster,
    subscriptions: usize,
    window: Duration,
) -> std::io::Result<Vec<Row>> {
    std::fs::create_dir_all(dir)?;
    let config = crate::arms::endpoints_toml(cluster);
    let mut rows = Vec::new();
    let ticks_per_second = blocking(ticks_per_second).await?;
    for shape in [Shape::Distinct, Shape::Shared] {
        // Starting (a connect loop that sleeps) and stopping (a wait) block: not on the
        // runtime the sim cluster shares.
        let (bin, dir, config) = (bin.to_path_buf(), dir.to_path_buf(), config.clone());
        let gateway =
            blocking(move || GatewayProcess::start(&bin, &dir, shape.name(), &config, &[]))
                .await??;
        tokio::time::sleep(SETTLE).await;
        let (idle_rss_kib, _) = gateway.memory_kib()?;
        let url = gateway.url().replacen("http", "ws", 1);
        let held = hold(&url, shape, subscriptions).await?;
        tokio::time::sleep(SETTLE).await;
        let upstream_subscriptions = cluster
            .endpoints()
            .iter()
            .map(|e| e.pubsub_stats().open_subscriptions)
            .sum();
        let cpu_before = cpu_ticks(gateway.pid())?;
        let notified_before = held.notifications.load(Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_ticks(gateway.pid())?.saturating_sub(cpu_before);
        let notified = held.notifications.load(Ordering::Relaxed) - notified_before;
        let (rss_kib, _) = gateway.memory_kib()?;
        let connections = held.connections;
        held.release().await;
        blocking(move || drop(gateway)).await?;
        rows.push(Row {
            shape,
            subscriptions,
            connections,
            upstream_subscriptions,
            idle_rss_kib,
            rss_kib,
            cpu_percent: cpu as f64 / ticks_per_second / elapsed * 100.0,
            notifications_per_s: notified as f64 / elapsed,
            window,
        });
    }
    Ok(rows)
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)
}

/// Client connections holding subscriptions open.
struct Held {
    connections: usize,
    notifications: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Held {
    async fn release(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Opens the connections of `shape` and returns once the gateway confirmed every
/// subscription (or an error if it refused one or did not answer within 30 s).
async fn hold(url: &str, shape: Shape, subscriptions: usize) -> std::io::Result<Held> {
    let requests: Vec<Vec<String>> = match shape {
        Shape::Distinct => (0..subscriptions)
            .collect::<Vec<_>>()
            .chunks(PER_CONNECTION)
            .map(|chunk| chunk.iter().map(|&i| account_subscribe(i)).collect())
            .collect(),
        Shape::Shared => (0..subscriptions)
            .map(|_| vec![subscribe_frame("confirmed")])
            .collect(),
    };
    let notifications = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = watch::channel(false);
    let (confirmed_tx, mut confirmed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let connections = requests.len();
    for frames in requests {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(std::io::Error::other)?;
        let (notifications, confirmed, mut stopped) =
            (notifications.clone(), confirmed_tx.clone(), stopped.clone());
        tasks.spawn(async move {
            let (mut tx, mut rx) = ws.split();
            for f in frames {
                if tx.send(Message::text(f)).await.is_err() {
                    return;
                }
            }
            loop {
                let frame = tokio::select! {
                    f = rx.next() => f,
                    _ = stopped.changed() => return,
                };
                let Some(Ok(Message::Text(t))) = frame else {
                    if matches!(frame, Some(Ok(_))) {
                        continue;
                    }
                    let _ = confirmed.send(Err("a client connection closed".to_string()));
                    return;
                };
                if notified_signature(t.as_str()).is_some() || t.contains("Notification\"") {
                    notifications.fetch_add(1, Ordering::Relaxed);
                } else if t.contains("\"error\"") {
                    let _ = confirmed.send(Err(t.to_string()));
                } else {
                    let _ = confirmed.send(Ok(()));
                }
            }
        });
    }
    drop(confirmed_tx);
    let all = async {
        for _ in 0..subscriptions {
            match confirmed_rx.recv().await {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(std::io::Error::other(format!("refused: {e}"))),
                None => return Err(std::io::Error::other("every client connection closed")),
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .map_err(|_| std::io::Error::other("subscriptions not confirmed within 30 s"))??;
    Ok(Held {
        connections,
        notifications,
        stop,
        tasks,
    })
}

/// `accountSubscribe` on the `i`-th made-up account.
fn account_subscribe(i: usize) -> String {
    let mut key = [7u8; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    format!(
        r#"{{"jsonrpc":"2.0","id":{i},"method":"accountSubscribe","params":["{}",{{"commitment":"confirmed","encoding":"base64"}}]}}"#,
        base58_encode(&key)
    )
}

/// User + system CPU time of `pid`, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| std::io::Error::other("unreadable /proc/PID/stat"))
}

/// User + system time from the text of `/proc/PID/stat`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // Fields after the command name (which may contain spaces and parentheses) start at
    // field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_user_plus_system_even_with_a_strange_command_name() {
        let stat = "4242 (tokio) (x y) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(42));
        assert_eq!(parse_cpu_ticks("4242 (short"), None);
        assert!(cpu_ticks(std::process::id()).is_ok(), "own /proc/PID/stat");
    }

    #[test]
    fn made_up_accounts_are_distinct_valid_keys() {
        let a: serde_json::Value = serde_json::from_str(&account_subscribe(1)).unwrap();
        let b: serde_json::Value = serde_json::from_str(&account_subscribe(2)).unwrap();
        assert_ne!(a["params"][0], b["params"][0]);
        let key = a["params"][0].as_str().unwrap();
        assert!((32..=44).contains(&key.len()), "{key}");
    }

    #[test]
    fn per_1000_figures_scale_by_the_subscriptions_held() {
        let row = Row {
            shape: Shape::Shared,
            subscriptions: 2000,
            connections: 2000,
            upstream_subscriptions: 2,
            idle_rss_kib: 10 * 1024,
            rss_kib: 30 * 1024,
            cpu_percent: 8.0,
            notifications_per_s: 0.0,
            window: Duration::from_secs(1),
        };
        assert_eq!(row.mib_per_1000(), 10.0);
        assert_eq!(row.cpu_per_1000(), 4.0);
    }
}
