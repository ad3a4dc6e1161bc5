//! The votes of one consensus call: who said what, which answers agree, and what the call
//! may conclude from them.
//!
//! A vote joins a group only when it agrees with at least one member and contradicts none
//! (agreement of signature lists is not transitive: a list far behind neither agrees nor
//! disagrees with two that contradict each other). An answer that can confirm nothing (an
//! empty signature list) is no vote, like an empty answer.

use super::super::agree::{Form, Relation};
use crate::attempt::Win;
use crate::catalog::Compare;
use crate::error::ErrorReason;
use crate::jsonrpc::RawJson;

/// Answers that agree: their forms and who gave them, first arrival first.
pub(super) struct Group {
    forms: Vec<Form>,
    pub(super) members: Vec<Win>,
    /// The slot the first answer is about (`slot` of a transaction or block,
    /// `context.slot`), if it says.
    pub(super) slot: Option<u64>,
}

/// What a vote came to.
pub(super) enum Vote {
    /// Counted in group `idx`.
    Counted(usize),
    /// Its answer confirms nothing (an empty list): kept like an empty answer.
    Empty,
    /// The endpoint voted already: a second answer changes nothing.
    Repeat,
}

/// The votes of one call.
pub(super) struct Tally {
    compare: Compare,
    pub(super) groups: Vec<Group>,
    /// Latest empty answer per endpoint that gave one and has not voted since.
    pub(super) empties: Vec<Win>,
    /// Endpoints that voted.
    pub(super) voted: Vec<bool>,
}

impl Tally {
    /// No votes yet, among `n` endpoints.
    pub(super) fn new(compare: Compare, n: usize) -> Self {
        Tally {
            compare,
            groups: Vec::new(),
            empties: Vec::new(),
            voted: vec![false; n],
        }
    }

    /// Counts a non-empty answer.
    pub(super) fn vote(&mut self, w: Win) -> Vote {
        let i = w.endpoint.index;
        if self.voted[i] {
            return Vote::Repeat;
        }
        let form = Form::of(self.compare, &w.result);
        if !form.votes() {
            self.empty(w);
            return Vote::Empty;
        }
        self.empties.retain(|e| e.endpoint.index != i);
        self.voted[i] = true;
        let fits = |g: &Group| {
            let relations: Vec<Relation> = g.forms.iter().map(|f| f.compare(&form)).collect();
            relations.contains(&Relation::Agree) && !relations.contains(&Relation::Disagree)
        };
        let idx = match self.groups.iter().position(fits) {
            Some(idx) => idx,
            None => {
                self.groups.push(Group {
                    forms: Vec::new(),
                    members: Vec::new(),
                    slot: answer_slot(&w.result),
                });
                self.groups.len() - 1
            }
        };
        self.groups[idx].forms.push(form);
        self.groups[idx].members.push(w);
        Vote::Counted(idx)
    }

    /// Keeps an empty answer (the endpoint's latest).
    pub(super) fn empty(&mut self, w: Win) {
        self.empties
            .retain(|e| e.endpoint.index != w.endpoint.index);
        self.empties.push(w);
    }

    /// Members of the largest group.
    pub(super) fn best_support(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.members.len())
            .max()
            .unwrap_or(0)
    }

    /// The best-supported group (ties: the freshest list, then the first), if no two votes
    /// contradict each other anywhere: with a contradiction in the tally, no unconfirmed
    /// answer is trustworthy.
    pub(super) fn uncontradicted(&self) -> Option<usize> {
        let forms: Vec<(usize, &Form)> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(i, g)| g.forms.iter().map(move |f| (i, f)))
            .collect();
        let contradiction = forms.iter().enumerate().any(|(k, (i, f))| {
            forms[k + 1..]
                .iter()
                .any(|(j, g)| i != j && f.compare(g) == Relation::Disagree)
        });
        if contradiction {
            return None;
        }
        (0..self.groups.len()).max_by_key(|&i| {
            let g = &self.groups[i];
            let newest = g.forms.iter().map(Form::newest).max().unwrap_or(0);
            (g.members.len(), newest, std::cmp::Reverse(i))
        })
    }

    /// The answer of group `idx`, with its agreement; members of groups that contradict it
    /// are counted as disagreeing.
    pub(super) fn conclude(mut self, idx: usize, quorum: usize) -> Win {
        let group = self.groups.swap_remove(idx);
        for loser in self.groups.iter().flat_map(|g| &g.members) {
            loser.endpoint.metrics().disagreement();
        }
        let agreed = group.members.len() as u32;
        // Agreeing lists may differ in their newest entries: return the freshest.
        let pick = group
            .forms
            .iter()
            .enumerate()
            .max_by_key(|(i, f)| (f.newest(), std::cmp::Reverse(*i)))
            .map_or(0, |(i, _)| i);
        let mut win = group
            .members
            .into_iter()
            .nth(pick)
            .expect("a group has members");
        win.agreement = Some((agreed, quorum as u32));
        win
    }

    /// `-32082`: who said what.
    pub(super) fn no_quorum(
        &self,
        quorum: usize,
        failures: Vec<crate::error::AttemptFailure>,
    ) -> ErrorReason {
        let mut votes: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .map(|w| w.endpoint.name.to_string())
                    .collect()
            })
            .collect();
        if !self.empties.is_empty() {
            votes.push(
                self.empties
                    .iter()
                    .map(|w| format!("{} (empty)", w.endpoint.name))
                    .collect(),
            );
        }
        if self.groups.len() > 1 {
            for w in self.groups.iter().flat_map(|g| &g.members) {
                w.endpoint.metrics().disagreement();
            }
        }
        ErrorReason::NoQuorum {
            quorum,
            votes,
            failures,
        }
    }
}

/// The slot an answer is about: `context.slot` of `{context, value}` results, else a
/// top-level `slot` (transactions, blocks).
fn answer_slot(result: &RawJson) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Context {
        slot: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        context: Option<Context>,
        slot: Option<u64>,
    }
    let head: Head = serde_json::from_str(result.get()).ok()?;
    head.context.and_then(|c| c.slot).or(head.slot)
}
