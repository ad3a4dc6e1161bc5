//! When two answers agree, for `consensus`: the comparable [`Form`] of an answer, by the
//! method's [`Compare`] rule from the catalogue.
//!
//! - **Value** — `value` of `{context, value}` results (nodes legitimately differ in
//!   `context.slot`), else the whole result; keys sorted and whitespace dropped, because
//!   providers differ in both.
//! - **Statuses** — the same, with each entry's `confirmations` and `confirmationStatus`
//!   left out: they move every slot and differ between nodes a slot apart.
//! - **SignatureList** — a list newest first moves with the chain: a node a slot behind
//!   lacks the newest entries, and `limit` cuts each list's oldest entries at a different
//!   place. Two lists agree when their entries (signature, slot, err) are the same over
//!   the range both cover: above the older of the two oldest slots (that slot itself may
//!   be cut short) and up to the lower of the two newest slots.

use serde_json::Value;

use crate::catalog::Compare;
use crate::jsonrpc::RawJson;

/// An answer in the form consensus compares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Form {
    /// A canonical JSON text.
    Canonical(String),
    /// A signature list: (slot, signature, canonical err), newest first.
    List(Vec<(u64, String, String)>),
}

impl Form {
    /// The comparable form of `result` under `compare`.
    pub(super) fn of(compare: Compare, result: &RawJson) -> Form {
        let Ok(mut v) = serde_json::from_str::<Value>(result.get()) else {
            return Form::Canonical(result.get().to_string());
        };
        strip_context(&mut v);
        match compare {
            Compare::Value => Form::Canonical(canonical(&v)),
            Compare::Statuses => {
                if let Value::Array(entries) = &mut v {
                    for e in entries.iter_mut().filter_map(Value::as_object_mut) {
                        e.remove("confirmations");
                        e.remove("confirmationStatus");
                    }
                }
                Form::Canonical(canonical(&v))
            }
            Compare::SignatureList => match v {
                Value::Array(entries) => Form::List(
                    entries
                        .iter()
                        .map(|e| {
                            (
                                e["slot"].as_u64().unwrap_or(0),
                                e["signature"].as_str().unwrap_or("").to_string(),
                                canonical(&e["err"]),
                            )
                        })
                        .collect(),
                ),
                other => Form::Canonical(canonical(&other)),
            },
        }
    }

    /// Whether two answers agree (module doc).
    pub(super) fn agrees(&self, other: &Form) -> bool {
        match (self, other) {
            (Form::List(a), Form::List(b)) => lists_agree(a, b),
            (a, b) => a == b,
        }
    }

    /// The newest slot a list shows (to return the freshest of agreeing lists).
    pub(super) fn newest(&self) -> u64 {
        match self {
            Form::List(entries) => entries.iter().map(|e| e.0).max().unwrap_or(0),
            Form::Canonical(_) => 0,
        }
    }
}

fn lists_agree(a: &[(u64, String, String)], b: &[(u64, String, String)]) -> bool {
    let (Some(a_new), Some(b_new)) = (a.iter().map(|e| e.0).max(), b.iter().map(|e| e.0).max())
    else {
        // An empty list covers nothing, so it contradicts nothing.
        return true;
    };
    let a_old = a.iter().map(|e| e.0).min().unwrap_or(0);
    let b_old = b.iter().map(|e| e.0).min().unwrap_or(0);
    let (lo, hi) = (a_old.max(b_old), a_new.min(b_new));
    within(a, lo, hi) == within(b, lo, hi)
}

/// The entries of `l` with `lo < slot <= hi`, in a fixed order.
fn within(l: &[(u64, String, String)], lo: u64, hi: u64) -> Vec<&(u64, String, String)> {
    let mut v: Vec<&(u64, String, String)> = l.iter().filter(|e| e.0 > lo && e.0 <= hi).collect();
    v.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    v
}

/// Replaces a `{context, value}` result by its `value`.
fn strip_context(v: &mut Value) {
    if let Value::Object(map) = v
        && map.len() == 2
        && map.contains_key("context")
        && let Some(inner) = map.remove("value")
    {
        *v = inner;
    }
}

/// Keys sorted, no whitespace.
fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(compare: Compare, s: &str) -> Form {
        Form::of(compare, &RawJson::parse(s).unwrap())
    }

    #[test]
    fn values_ignore_context_key_order_and_whitespace() {
        let v = |s| form(Compare::Value, s);
        assert!(
            v(r#"{"context":{"slot":10,"apiVersion":"2.1"},"value":{"b":1,"a":[1,2]}}"#).agrees(
                &v(r#"{ "value" : { "a" : [1, 2], "b" : 1 }, "context" : {"slot": 12} }"#)
            )
        );
        assert!(
            !v(r#"{"context":{"slot":10},"value":1}"#)
                .agrees(&v(r#"{"context":{"slot":10},"value":2}"#))
        );
        // Results that merely contain a `context` key among others are compared whole.
        assert!(
            !v(r#"{"context":1,"value":2,"x":3}"#).agrees(&v(r#"{"context":9,"value":2,"x":3}"#))
        );
        assert!(
            v(r#"{"slot":1,"meta":{"fee":5000,"err":null}}"#)
                .agrees(&v(r#"{"meta":{"err":null,"fee":5000},"slot":1}"#))
        );
    }

    #[test]
    fn statuses_ignore_confirmations() {
        let s = |x| form(Compare::Statuses, x);
        assert!(s(r#"{"context":{"slot":5},"value":[{"slot":3,"confirmations":1,"confirmationStatus":"confirmed","err":null,"status":{"Ok":null}}]}"#)
            .agrees(&s(r#"{"context":{"slot":6},"value":[{"slot":3,"confirmations":2,"confirmationStatus":"confirmed","err":null,"status":{"Ok":null}}]}"#)));
        assert!(
            !s(r#"{"context":{"slot":5},"value":[{"slot":3,"err":null}]}"#).agrees(&s(
                r#"{"context":{"slot":5},"value":[{"slot":4,"err":null}]}"#
            ))
        );
    }

    fn list(entries: &[(u64, &str)]) -> Form {
        let items: Vec<String> = entries
            .iter()
            .map(|(slot, sig)| {
                format!(r#"{{"signature":"{sig}","slot":{slot},"err":null,"memo":null,"blockTime":1,"confirmationStatus":"confirmed"}}"#)
            })
            .collect();
        form(Compare::SignatureList, &format!("[{}]", items.join(",")))
    }

    #[test]
    fn signature_lists_agree_over_the_range_both_cover() {
        // A node one slot behind lacks the newest entry; limit 3 cuts both at different
        // places: they are compared over slot 10 (slot 9 may be cut short in one).
        let fresh = list(&[(11, "e"), (10, "d"), (9, "c")]);
        let behind = list(&[(10, "d"), (9, "c"), (8, "b")]);
        assert!(fresh.agrees(&behind));
        // Within the common range a missing or different signature is a disagreement.
        let other = list(&[(11, "e"), (10, "x"), (9, "c")]);
        assert!(!other.agrees(&behind));
        let missing = list(&[(10, "d"), (10, "d2"), (9, "c"), (8, "b")]);
        assert!(!missing.agrees(&fresh), "10 has d2 on one node only");
        // An empty list covers nothing.
        assert!(list(&[]).agrees(&fresh));
        assert_eq!(fresh.newest(), 11);
    }
}
