//! The gateway under test as its own process — the same binary and runtime as
//! `dualrpc serve` in production — started from a config file and killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `dualrpc serve` process.
#[derive(Debug)]
pub struct GatewayProcess {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
}

impl GatewayProcess {
    /// Runs `bin serve --config` with `config` (everything but `listen`, which is chosen
    /// here) and `args`, and waits until it accepts connections.
    pub fn start(
        bin: &Path,
        dir: &Path,
        name: &str,
        config: &str,
        args: &[&str],
    ) -> std::io::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let path = dir.join(format!("{name}.toml"));
        // PubSub on any free port: listen + 1 may be taken by another process.
        std::fs::write(
            &path,
            format!("listen = \"{addr}\"\nws_listen = \"127.0.0.1:0\"\n{config}"),
        )?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut me = GatewayProcess {
            child,
            addr,
            config: path,
        };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = me.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "the gateway exited at start-up ({status}); see {}",
                    dir.join(format!("{name}.log")).display()
                )));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(std::io::Error::other(
                    "the gateway did not listen within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(me)
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size and its peak, in KiB, from `/proc/PID/status`.
    pub fn memory_kib(&self) -> std::io::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}
