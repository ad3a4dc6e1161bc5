//! The `dualrpc` binary as a user runs it: `serve` with `--endpoint NAME=URL` and with a
//! config file using `${ENV}`, stopped by SIGTERM, with logs checked for secrets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dualrpc_testkit::{Step, Upstream};

const SECRET: &str = "SECRETKEY-cli-91f3";

/// A running `dualrpc` process whose stderr lines are collected; killed if dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualrpc"));
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "debug");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn dualrpc");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_line(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The address from the "ready" line.
    fn listen_addr(&mut self) -> String {
        let line = self.wait_line("dualrpc gateway ready");
        let start = line.find("listen=").expect("listen field") + "listen=".len();
        line[start..].split_whitespace().next().unwrap().to_string()
    }

    /// Sends SIGTERM and waits for a clean exit; returns every stderr line.
    fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status:?}");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get_slot(addr: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_quick_form_answers_and_never_logs_the_url() {
    let up = Upstream::start().await;
    up.set("getSlot", Step::result("4242"));
    let bad = Upstream::start().await;
    bad.set("getSlot", Step::status(503, "down"));
    let good = format!("good={}?api-key={SECRET}", up.url());
    let failing = format!("bad={}?api-key={SECRET}", bad.url());
    let mut gw = Running::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            &good,
            "--endpoint",
            &failing,
        ],
        &[],
    );
    let addr = gw.listen_addr();
    for _ in 0..6 {
        let v = get_slot(&addr).await;
        assert_eq!(v["result"], 4242, "{v}");
    }
    let logs = gw.terminate().join("\n");
    assert!(logs.contains("good"), "{logs}");
    assert!(!logs.contains(SECRET), "secret in logs:\n{logs}");
    for u in [&up, &bad] {
        assert!(!logs.contains(&u.url()), "url in logs:\n{logs}");
    }
}

#[tokio::test]
async fn serve_reads_a_config_file_with_env_interpolation() {
    let up = Upstream::start().await;
    up.set("getSlot", Step::result("7"));
    let dir = std::env::temp_dir().join(format!("dualrpc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dualrpc.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\n[[endpoint]]\nname = \"main\"\nurl = \"${TEST_UPSTREAM_URL}\"\n[default]\nstrategy = \"race\"\n",
    )
    .unwrap();
    let url = format!("{}?api-key={SECRET}", up.url());
    let mut gw = Running::start(
        &["serve", "--config", path.to_str().unwrap()],
        &[("TEST_UPSTREAM_URL", &url)],
    );
    let addr = gw.listen_addr();
    assert_eq!(get_slot(&addr).await["result"], 7);
    let logs = gw.terminate().join("\n");
    assert!(!logs.contains(SECRET), "{logs}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sighup_reloads_the_config_file() {
    let first = Upstream::start().await;
    first.set("getSlot", Step::result("1"));
    let second = Upstream::start().await;
    second.set("getSlot", Step::result("2"));
    let dir = std::env::temp_dir().join(format!("dualrpc-cli-hup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dualrpc.toml");
    let write = |url: String| {
        std::fs::write(
            &path,
            format!("listen = \"127.0.0.1:0\"\n[[endpoint]]\nname = \"main\"\nurl = \"{url}\"\n"),
        )
        .unwrap()
    };
    write(first.url());
    let mut gw = Running::start(&["serve", "--config", path.to_str().unwrap()], &[]);
    let addr = gw.listen_addr();
    assert_eq!(get_slot(&addr).await["result"], 1);
    write(second.url());
    let pid = gw.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    gw.wait_line("config reloaded");
    assert_eq!(get_slot(&addr).await["result"], 2);
    // A broken file is reported and the running config stays.
    std::fs::write(&path, "listen = 5").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    gw.wait_line("config reload failed");
    assert_eq!(get_slot(&addr).await["result"], 2);
    gw.terminate();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_config_fails_with_a_clear_message_that_hides_the_url() {
    let dir = std::env::temp_dir().join(format!("dualrpc-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        format!("[[endpoint]]\nname = \"x\"\nurl = \"ftp://{SECRET}@host/\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dualrpc"))
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("endpoint `x`") && !err.contains(SECRET),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dualrpc"))
        .args(["serve", "--config", "/nonexistent/dualrpc.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
    // A malformed --endpoint (no NAME=) is refused without echoing the URL's key.
    let out = Command::new(env!("CARGO_BIN_EXE_dualrpc"))
        .args([
            "serve",
            "--endpoint",
            &format!("https://x.example.com/{SECRET}/"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NAME=URL") && !err.contains(SECRET), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `dualrpc bench --overhead` end to end in a short mode (1 s per wrk run, 200 calls in
/// flight): the real binary as the gateway, nginx beside it, wrk as the load, a report with
/// every target and no failed request. Skipped, with a note, where wrk or nginx is not
/// installed (CI installs both).
#[test]
fn bench_overhead_short_run_writes_a_report_with_every_target() {
    let have = |bin: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
            || std::path::Path::new("/usr/sbin").join(bin).is_file()
    };
    if !have("wrk") || !have("nginx") {
        eprintln!("skipped: wrk and nginx are needed (apt-get install -y wrk nginx-light)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("dualrpc-overhead-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_dualrpc"))
        .args([
            "bench",
            "--overhead",
            "--overhead-secs",
            "1",
            "--overhead-rounds",
            "1",
            "--memory",
            "200",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for target in [
        "| direct |",
        "| hyper forwarder |",
        "| nginx |",
        "| dualrpc failover |",
        "| dualrpc race |",
        "| dualrpc failover, all cores |",
    ] {
        let row = report
            .lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("no {target} row:\n{report}"));
        assert!(row.ends_with("| 0 |"), "failed requests: {row}");
    }
    assert!(report.contains("| 200 |"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}
