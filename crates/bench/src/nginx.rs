//! nginx as the benchmark's peer: the failover reverse proxy an operator would set up instead
//! of dualrpc (`proxy_next_upstream` over the same endpoints), so the report can show what the
//! gateway adds over the obvious alternative.
//!
//! [`NginxPeer::start`] writes a self-contained config into a fresh temporary prefix (its own
//! pid file, logs and temp paths, so it runs as root or not without touching `/etc/nginx` or
//! `/var`), runs nginx in the foreground as a single process and waits for its port. The
//! process is killed by [`NginxPeer::stop`] or, failing that, on drop: a test or bench run
//! never leaves nginx behind.

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How nginx proxies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxOptions {
    /// Connect, send and read timeout towards an upstream, in milliseconds. A timed-out attempt
    /// moves on to the next upstream, like any other error.
    pub timeout_ms: u64,
    /// `false` (default): round-robin over all upstreams, the usual "spread the load" setup.
    /// `true`: the first upstream is primary and the others are `backup`, used only when it
    /// fails — the usual "failover" setup.
    pub primary_backup: bool,
}

impl Default for NginxOptions {
    fn default() -> Self {
        NginxOptions {
            timeout_ms: 2_000,
            primary_backup: false,
        }
    }
}

/// A running nginx proxying to the given upstreams. Killed by [`NginxPeer::stop`] or on drop.
#[derive(Debug)]
pub struct NginxPeer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// The nginx binary: the first `nginx` on `PATH`, else the usual sbin locations (which are
/// often not on a non-root user's `PATH`).
pub fn find_nginx() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(
            [
                "/usr/sbin/nginx",
                "/usr/local/sbin/nginx",
                "/usr/local/nginx/sbin/nginx",
            ]
            .map(PathBuf::from),
        )
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How long to wait for nginx's port: 100 × 50 ms. nginx binds within milliseconds; the
/// margin is for a loaded 2-core CI machine.
const READY_POLLS: u32 = 100;
const READY_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A port found free can be taken by someone else before nginx binds it; try a few.
const PORT_ATTEMPTS: u32 = 5;

impl NginxPeer {
    /// Starts nginx in front of `upstreams` (`(name, address)`; names only label the config)
    /// and returns once it accepts connections. Fails if nginx is not installed, or with the
    /// tail of nginx's error log if it exits.
    pub async fn start(
        upstreams: &[(String, SocketAddr)],
        opts: NginxOptions,
    ) -> io::Result<NginxPeer> {
        if upstreams.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nginx needs at least one upstream",
            ));
        }
        let bin = find_nginx().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "nginx not found on PATH or in /usr/sbin; install it (apt-get install -y nginx-light) \
                 or run scripts/bench.sh, which does",
            )
        })?;
        let without = missing_temp_path_modules(&bin)?;
        let dir = fresh_dir()?;
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        // From here on `peer` owns the prefix: any early return drops it, which removes it.
        let mut peer = NginxPeer {
            child: None,
            port: 0,
            dir,
        };
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            peer.port = free_port()?;
            let conf = peer.dir.join("nginx.conf");
            std::fs::write(
                &conf,
                render_config(&peer.dir, peer.port, upstreams, &opts, &without),
            )?;
            let error_log = peer.dir.join("logs/error.log");
            let stderr = std::fs::File::create(peer.dir.join("logs/stderr.log"))?;
            let child = Command::new(&bin)
                .arg("-p")
                .arg(&peer.dir)
                .arg("-c")
                .arg(&conf)
                // Where errors go before the config's error_log is read (else the compiled-in
                // default, e.g. /var/log/nginx/error.log).
                .arg("-e")
                .arg(&error_log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot run {}: {e}", bin.display()))
                })?;
            peer.child = Some(child);
            match peer.wait_ready().await {
                Ok(()) => return Ok(peer),
                Err(Exited(log)) if log.contains("Address already in use") => {
                    last_err = Some(log);
                    peer.kill();
                }
                Err(Exited(log)) => {
                    peer.kill();
                    return Err(io::Error::other(format!(
                        "nginx exited at start-up:\n{log}"
                    )));
                }
                Err(NotReady(log)) => {
                    peer.kill();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "nginx did not accept connections on 127.0.0.1:{} within {:?}:\n{log}",
                            peer.port,
                            READY_POLL_INTERVAL * READY_POLLS
                        ),
                    ));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "nginx could not bind a free port in {PORT_ATTEMPTS} attempts:\n{}",
                last_err.unwrap_or_default()
            ),
        ))
    }

    /// The proxy's URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The nginx process id (e.g. to check that it is gone after [`NginxPeer::stop`]).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills nginx, reaps it and removes its temporary prefix.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            // Reaping blocks until the kernel has torn the process down: off the async threads.
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Polls until nginx accepts a connection on its port or exits. Polling is the only option:
    /// an external process gives no readiness event.
    async fn wait_ready(&mut self) -> Result<(), StartFailure> {
        for _ in 0..READY_POLLS {
            if self.exited() {
                return Err(Exited(self.log_tail()));
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .is_ok()
            {
                // Something listens; make sure it is nginx and not a process that took the port.
                return if self.exited() {
                    Err(Exited(self.log_tail()))
                } else {
                    Ok(())
                };
            }
            tokio::time::sleep(READY_POLL_INTERVAL).await;
        }
        Err(NotReady(self.log_tail()))
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    /// The last lines of nginx's error log and stderr, for error messages.
    fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["logs/error.log", "logs/stderr.log"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(15)..] {
                let _ = writeln!(out, "  {line}");
            }
        }
        if out.is_empty() {
            "  (nginx logged nothing)".to_string()
        } else {
            out
        }
    }

    /// Kills and reaps nginx (blocking, but only for the moment a SIGKILLed process takes).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NginxPeer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why nginx did not come up; both carry the log tail.
enum StartFailure {
    Exited(String),
    NotReady(String),
}
use StartFailure::{Exited, NotReady};

/// The nginx config. Kept close to what an operator would write for "failover across RPC
/// providers", with nothing tuned in nginx's favour or against it.
fn render_config(
    dir: &Path,
    port: u16,
    upstreams: &[(String, SocketAddr)],
    opts: &NginxOptions,
    without_modules: &[&str],
) -> String {
    let d = dir.display();
    let t = opts.timeout_ms.max(1);
    let mut servers = String::new();
    for (i, (name, addr)) in upstreams.iter().enumerate() {
        let backup = if opts.primary_backup && i > 0 {
            " backup"
        } else {
            ""
        };
        // Names end up in a comment; keep them on one line.
        let name: String = name
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        // `max_fails=0`: no passive marking-down. With nginx's default (`max_fails=1
        // fail_timeout=10s`) one 5xx or timeout takes a server out for 10 s, and with two
        // servers a pair of blips answers every request with an instant 502 ("no live
        // upstreams") — measured at 38% success on the `seed` profile. Retrying the next
        // server per request is nginx at its best for this job, so that is what we compare.
        let _ = writeln!(
            servers,
            "        server {addr} max_fails=0{backup};  # {name}"
        );
    }
    // nginx creates every compiled-in module's temp directory at start-up, by default under
    // /var/lib/nginx; point each one present into the prefix.
    let mut temp_paths = String::new();
    for module in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        if !without_modules.contains(&module) {
            let _ = writeln!(temp_paths, "    {module}_temp_path {d}/tmp/{module};");
        }
    }
    format!(
        r#"# Generated by dualrpc bench: nginx as a failover reverse proxy over the bench's endpoints.
# Foreground, single process: the bench kills this one pid and nothing is left running.
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_max_body_size 16m;
{temp_paths}
    upstream dualrpc_endpoints {{
        # Default passive health check, spelled out: one failed attempt takes a server out
        # of rotation for 10 s.
{servers}        # Reuse upstream connections, as a tuned production config would.
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};

        location / {{
            proxy_pass http://dualrpc_endpoints;
            # Keep-alive to upstreams needs HTTP/1.1 and no "Connection: close".
            proxy_http_version 1.1;
            proxy_set_header Connection "";

            # Try the next server on errors, timeouts, 5xx and rate limiting. JSON-RPC is POST,
            # which nginx treats as non-idempotent and never retries unless told so with
            # `non_idempotent`; without it this would not be a failover proxy at all.
            proxy_next_upstream error timeout http_500 http_502 http_503 http_504 http_429 non_idempotent;
            proxy_next_upstream_tries {tries};

            proxy_connect_timeout {t}ms;
            proxy_send_timeout {t}ms;
            proxy_read_timeout {t}ms;
        }}
    }}
}}
"#,
        tries = upstreams.len(),
    )
}

/// Modules whose temp-path directive this nginx binary lacks (built `--without-http_X_module`):
/// setting a directive for a module that is not compiled in is a config error.
fn missing_temp_path_modules(bin: &Path) -> io::Result<Vec<&'static str>> {
    let out = Command::new(bin).arg("-V").stdin(Stdio::null()).output()?;
    // nginx prints its build configuration to stderr.
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Ok(["fastcgi", "uwsgi", "scgi", "proxy"]
        .into_iter()
        .filter(|m| text.contains(&format!("--without-http_{m}_module")))
        .collect())
}

/// A port that was free a moment ago. nginx must bind it itself, so the listener is closed
/// again; the caller retries if another process takes the port in between.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A new, empty directory under the system temp dir.
fn fresh_dir() -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "dualrpc-nginx-{}-{nanos}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_failover_and_timeouts() {
        let ups = vec![
            ("alpha".to_string(), "127.0.0.1:9001".parse().unwrap()),
            ("beta".to_string(), "127.0.0.1:9002".parse().unwrap()),
        ];
        let opts = NginxOptions {
            timeout_ms: 750,
            primary_backup: true,
        };
        let conf = render_config(Path::new("/tmp/x"), 8080, &ups, &opts, &["uwsgi"]);
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("server 127.0.0.1:9001 max_fails=0;  # alpha"));
        assert!(conf.contains("server 127.0.0.1:9002 max_fails=0 backup;  # beta"));
        assert!(conf.contains("http_429 non_idempotent;"));
        assert!(conf.contains("proxy_next_upstream_tries 2;"));
        assert!(conf.contains("proxy_read_timeout 750ms;"));
        assert!(conf.contains("proxy_temp_path /tmp/x/tmp/proxy;"));
        assert!(!conf.contains("uwsgi_temp_path"));
        assert!(conf.contains("keepalive 64;"));
        assert!(conf.contains("pid /tmp/x/nginx.pid;"));
    }
}
