//! Numbers and table cells as the report shows them: latencies, rates, counts with thousands
//! separators, durations, Markdown-safe cells and the report's timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::results::ArmResult;

/// mean, p50, p90, p99, p99.9 in ms with one decimal, or dashes when nothing completed.
pub(super) fn latency_cells(arm: &ArmResult) -> Vec<String> {
    if arm.latency_us.is_empty() {
        return vec!["—".to_string(); 5];
    }
    let mut v = vec![format!("{:.1}", arm.mean_ms())];
    v.extend([0.5, 0.9, 0.99, 0.999].map(|q| format!("{:.1}", arm.quantile_ms(q))));
    v
}

pub(super) fn calls_cell(arm: &ArmResult) -> String {
    if arm.upstream_calls.is_empty() {
        "—".to_string()
    } else {
        format!("{:.2}", arm.calls_per_request())
    }
}

/// `alpha 100% · beta 48%`, endpoints in profile order, then any others the arm called.
pub(super) fn utilisation_cell(arm: &ArmResult, endpoints: &[String]) -> String {
    if arm.upstream_calls.is_empty() {
        return "—".to_string();
    }
    let util = arm.utilisation();
    let mut parts: Vec<String> = endpoints
        .iter()
        .map(|e| {
            let u = util.iter().find(|(n, _)| n == e).map_or(0.0, |(_, u)| *u);
            format!("{e} {:.0}%", u * 100.0)
        })
        .collect();
    parts.extend(
        util.iter()
            .filter(|(n, _)| !endpoints.contains(n))
            .map(|(n, u)| format!("{n} {:.0}%", u * 100.0)),
    );
    parts.join(" · ")
}

/// A rate as a percentage with three decimals: `99.912%`.
pub(super) fn pct3(rate: f64) -> String {
    format!("{:.3}%", rate * 100.0)
}

/// A target percentage without trailing zeros: `99.9%`, `99.95%`.
pub(super) fn pct_short(rate: f64) -> String {
    format!("{}%", trim_float(rate * 100.0))
}

pub(super) fn trim_float(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub(super) fn fmt_axis_ms(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        trim_float(v)
    }
}

pub(super) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(super) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Makes free text safe inside a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC`, without a date crate.
pub(super) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(pct_short(0.9995), "99.95%");
        assert_eq!(pct3(0.98), "98.000%");
        assert!(utc_now().ends_with(" UTC") && utc_now().len() == 20);
    }
}
