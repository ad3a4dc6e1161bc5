//! The health loop's lag readings under paused time: a probe that did not answer is no
//! reading (its node's last slot is old, not behind), until the node stays silent.

use std::time::Duration;

use super::script::*;
use crate::outcome::FailureKind;
use crate::pool::Pool;
use crate::settings::HealthSettings;

async fn round(pool: &Pool) {
    let settings = HealthSettings {
        interval: None,
        max_slot_lag: 2,
    };
    crate::health::check_all(pool.upstreams(), &settings, Duration::from_secs(1)).await;
}

fn lagging(pool: &Pool) -> [bool; 2] {
    [0, 1].map(|i| pool.endpoint(i).stats.lagging())
}

#[tokio::test(start_paused = true)]
async fn a_missed_probe_is_no_lag_reading_until_the_node_stays_silent() {
    let s = scripts(2);
    let pool = pool(&s, "");
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok("1000"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, false]);
    // a's probes stop answering while b moves on 5 slots: a's 1000 is old, not behind.
    s[0].set("getSlot", fail(FailureKind::Connect));
    s[1].set("getSlot", ok("1005"));
    for _ in 1..crate::stats::STALE_AFTER {
        round(&pool).await;
        assert_eq!(lagging(&pool), [false, false]);
    }
    // Silent for STALE_AFTER rounds in a row: its last slot counts again.
    round(&pool).await;
    assert_eq!(lagging(&pool), [true, false]);
    // It answers again, caught up.
    s[0].set("getSlot", ok("1006"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, false]);
}

#[tokio::test(start_paused = true)]
async fn a_round_only_the_node_behind_answers_does_not_make_it_the_tip() {
    let s = scripts(2);
    let pool = pool(&s, "");
    s[0].set("getSlot", ok("1000"));
    s[1].set("getSlot", ok("990"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, true]);
    // a misses one probe; b, still far behind, is not the best because it alone answered.
    s[0].set("getSlot", fail(FailureKind::Connect));
    s[1].set("getSlot", ok("991"));
    round(&pool).await;
    assert_eq!(lagging(&pool), [false, true]);
}
