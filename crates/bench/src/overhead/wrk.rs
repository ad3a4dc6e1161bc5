//! Load from wrk (one thread, N connections) with a Lua script that sends a *different*
//! `getBalance` in every request (nothing for a proxy to coalesce or cache) and counts any
//! answer that is not HTTP 200 with a JSON-RPC `result` as a failed request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The script: distinct params per request; errors counted per thread and summed in `done`.
const SCRIPT: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  errors = 0
end
request = function()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. counter ..
    ',"method":"getBalance","params":["acct-' .. counter .. '-' .. math.random(1, 1000000000) .. '"]}'
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true)
      or string.find(body, '"error"', 1, true) then
    errors = errors + 1
  end
end
done = function(summary, latency, requests)
  local bad = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  for _, t in ipairs(threads) do
    bad = bad + t:get("errors")
  end
  io.write(string.format("DUALRPC-WRK requests=%d errors=%d p50_us=%d p99_us=%d duration_us=%d\n",
    summary.requests, bad, latency:percentile(50), latency:percentile(99), summary.duration))
end
"#;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Requests completed.
    pub requests: u64,
    /// Requests that failed (transport, HTTP status, or a JSON-RPC error / no result).
    pub errors: u64,
    /// Median latency (µs).
    pub p50_us: f64,
    /// 99th percentile latency (µs).
    pub p99_us: f64,
    /// Requests per second.
    pub rps: f64,
}

/// The wrk binary, if installed.
pub fn find_wrk() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("wrk"))
            .find(|p| p.is_file())
    })
}

/// Writes the Lua script into `dir`.
pub(super) fn write_script(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("distinct-getBalance.lua");
    std::fs::write(&path, SCRIPT)?;
    Ok(path)
}

/// Runs wrk against `url` with `connections` for `duration` (blocking: call it from a
/// blocking task).
pub(super) fn run(
    wrk: &Path,
    script: &Path,
    url: &str,
    connections: usize,
    duration: Duration,
) -> std::io::Result<Load> {
    let out = Command::new(wrk)
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("DUALRPC-WRK"))
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "wrk printed no summary (status {}): {}{}",
                out.status,
                text,
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
    parse(line)
}

fn parse(line: &str) -> std::io::Result<Load> {
    let field = |name: &str| -> std::io::Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no {name} in `{line}`")))
    };
    let requests = field("requests")?;
    let duration_us = field("duration_us")?.max(1.0);
    Ok(Load {
        requests: requests as u64,
        errors: field("errors")? as u64,
        p50_us: field("p50_us")?,
        p99_us: field("p99_us")?,
        rps: requests / (duration_us / 1e6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_is_read() {
        let l =
            parse("DUALRPC-WRK requests=20000 errors=3 p50_us=95 p99_us=240 duration_us=2000000")
                .unwrap();
        assert_eq!(l.requests, 20_000);
        assert_eq!(l.errors, 3);
        assert_eq!(l.p50_us, 95.0);
        assert_eq!(l.rps, 10_000.0);
        assert!(parse("DUALRPC-WRK requests=1").is_err());
    }
}
