//! When two answers agree, for `consensus`: the comparable [`Form`] of an answer, by the
//! method's [`Compare`] rule from the catalogue.
//!
//! - **Value** — `value` of `{context, value}` results (nodes legitimately differ in
//!   `context.slot`), else the whole result; keys sorted and whitespace dropped, because
//!   providers differ in both.
//! - **Statuses** — the same, with each entry's `confirmations` and `confirmationStatus`
//!   left out: they move every slot and differ between nodes a slot apart.
//! - **SignatureList** — a list newest first moves with the chain: a node a slot behind
//!   lacks the newest entries, `limit` cuts each list's oldest entries at a different
//!   place, and providers index new transactions after different delays, so one may lack an
//!   entry another already shows *inside* the range both cover. A missing entry is
//!   therefore "not yet", never a contradiction: two lists agree when they share at least
//!   one signature and every signature they share has the same slot and err; they
//!   disagree when a shared signature differs. Lists sharing nothing neither agree nor
//!   disagree, and an empty list (or one whose entries lack a slot or
//!   signature) is no vote at all — otherwise one broken provider answering `[]` would
//!   "confirm" anything.

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

    /// How two answers relate (module doc).
    pub(super) fn compare(&self, other: &Form) -> Relation {
        match (self, other) {
            (Form::List(a), Form::List(b)) => compare_lists(a, b),
            (a, b) if a == b => Relation::Agree,
            _ => Relation::Disagree,
        }
    }

    /// Whether the answer can confirm or contradict anything: a signature list that is empty,
    /// or whose entries lack a slot or a signature, cannot — it is no vote.
    pub(super) fn votes(&self) -> bool {
        match self {
            Form::List(entries) => {
                !entries.is_empty() && entries.iter().all(|e| e.0 > 0 && !e.1.is_empty())
            }
            Form::Canonical(_) => true,
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

/// How two answers relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relation {
    /// Equal where they can be compared.
    Agree,
    /// Different where they can be compared.
    Disagree,
    /// Nothing to compare: lists whose ranges do not overlap neither confirm nor
    /// contradict each other.
    Unknown,
}

fn compare_lists(a: &[(u64, String, String)], b: &[(u64, String, String)]) -> Relation {
    let theirs: std::collections::HashMap<&str, &(u64, String, String)> =
        b.iter().map(|e| (e.1.as_str(), e)).collect();
    let mut shared = 0;
    for e in a {
        if let Some(f) = theirs.get(e.1.as_str()) {
            if f.0 != e.0 || f.2 != e.2 {
                return Relation::Disagree;
            }
            shared += 1;
        }
    }
    if shared > 0 {
        Relation::Agree
    } else {
        Relation::Unknown
    }
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
        let agree = |a: Form, b: Form| a.compare(&b) == Relation::Agree;
        assert!(agree(
            v(r#"{"context":{"slot":10,"apiVersion":"2.1"},"value":{"b":1,"a":[1,2]}}"#),
            v(r#"{ "value" : { "a" : [1, 2], "b" : 1 }, "context" : {"slot": 12} }"#)
        ));
        assert!(!agree(
            v(r#"{"context":{"slot":10},"value":1}"#),
            v(r#"{"context":{"slot":10},"value":2}"#)
        ));
        // Results that merely contain a `context` key among others are compared whole.
        assert!(!agree(
            v(r#"{"context":1,"value":2,"x":3}"#),
            v(r#"{"context":9,"value":2,"x":3}"#)
        ));
        assert!(agree(
            v(r#"{"slot":1,"meta":{"fee":5000,"err":null}}"#),
            v(r#"{"meta":{"err":null,"fee":5000},"slot":1}"#)
        ));
    }

    #[test]
    fn statuses_ignore_confirmations() {
        let s = |x| form(Compare::Statuses, x);
        assert_eq!(
            s(r#"{"context":{"slot":5},"value":[{"slot":3,"confirmations":1,"confirmationStatus":"confirmed","err":null,"status":{"Ok":null}}]}"#)
                .compare(&s(r#"{"context":{"slot":6},"value":[{"slot":3,"confirmations":2,"confirmationStatus":"confirmed","err":null,"status":{"Ok":null}}]}"#)),
            Relation::Agree
        );
        assert_eq!(
            s(r#"{"context":{"slot":5},"value":[{"slot":3,"err":null}]}"#).compare(&s(
                r#"{"context":{"slot":5},"value":[{"slot":4,"err":null}]}"#
            )),
            Relation::Disagree
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
    fn signature_lists_agree_on_what_they_share() {
        use Relation::*;
        // A node one slot behind lacks the newest entry; limit 3 cuts both at different
        // places: what both show is the same.
        let fresh = list(&[(11, "e"), (10, "d"), (9, "c")]);
        let behind = list(&[(10, "d"), (9, "c"), (8, "b")]);
        assert_eq!(fresh.compare(&behind), Agree);
        // Within the common range a missing entry is "not indexed yet": what both show
        // still agrees.
        let missing = list(&[(10, "d"), (10, "d2"), (9, "c"), (8, "b")]);
        assert_eq!(missing.compare(&fresh), Agree, "10 has d2 on one node only");
        // A signature both show, at another slot or with another err, is a disagreement.
        let moved = list(&[(11, "e"), (10, "c"), (9, "x")]);
        assert_eq!(moved.compare(&behind), Disagree);
        let failed = form(
            Compare::SignatureList,
            r#"[{"signature":"d","slot":10,"err":{"InstructionError":[0,"Custom"]}},{"signature":"c","slot":9,"err":null}]"#,
        );
        assert_eq!(failed.compare(&behind), Disagree);
        // Nothing shared in the range: neither.
        let other = list(&[(11, "e"), (10, "x"), (9, "y")]);
        assert_eq!(other.compare(&behind), Unknown);
        // Lists that do not overlap say nothing about each other.
        let far = list(&[(5, "z"), (4, "y")]);
        assert_eq!(far.compare(&fresh), Unknown);
        // An empty list, or entries without slot or signature, are no vote.
        assert!(!list(&[]).votes());
        assert!(!list(&[(0, "a")]).votes());
        assert!(!list(&[(3, "")]).votes());
        assert!(fresh.votes());
        assert_eq!(fresh.newest(), 11);
    }
}
