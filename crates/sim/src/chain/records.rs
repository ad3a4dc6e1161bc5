//! A run of transactions in sequence order, with each one's indexing delay on every endpoint
//! and an index by signature: what the ledger keeps for the launchpad's transactions and, apart
//! from them, for the transactions clients sent (see the `sent` submodule). Both go through the
//! same lookups, so every method and every subscription applies the same visibility rule to
//! either.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::Record;
use super::visibility::draw_indexing_delay;
use crate::latency::LatencyModel;

/// Transactions numbered consecutively from some first sequence number, oldest first.
#[derive(Debug)]
pub(crate) struct Records {
    /// How many endpoints each transaction has a delay for.
    endpoints: usize,
    /// The sequence number the next transaction gets.
    next_sequence: u64,
    records: VecDeque<Record>,
    /// Indexing delay (ns) of every record on every endpoint: `endpoints` entries per record,
    /// in the order of `records`.
    delays_ns: VecDeque<u64>,
    by_signature: HashMap<[u8; 64], u64>,
}

impl Records {
    /// An empty run whose first transaction gets `first_sequence`, with delays on
    /// `endpoints` endpoints.
    pub(super) fn new(first_sequence: u64, endpoints: usize) -> Records {
        Records {
            endpoints,
            next_sequence: first_sequence,
            records: VecDeque::new(),
            delays_ns: VecDeque::new(),
            by_signature: HashMap::new(),
        }
    }

    /// Appends a transaction with the next sequence number; its indexing delay on endpoint `e`
    /// is drawn from `models[e]` (`models` has one model per endpoint) with `(seed, e,
    /// sequence)`. Returns the new record.
    pub(super) fn push(
        &mut self,
        slot: u64,
        transaction_index: u32,
        signature: [u8; 64],
        seed: u64,
        models: &[LatencyModel],
    ) -> Record {
        debug_assert_eq!(models.len(), self.endpoints);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let record = Record::new(sequence, slot, transaction_index, signature);
        self.records.push_back(record);
        for (endpoint, model) in models.iter().enumerate() {
            let delay = draw_indexing_delay(model, seed, endpoint, sequence);
            self.delays_ns
                .push_back(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
        }
        self.by_signature.insert(signature, sequence);
        record
    }

    /// Forgets the oldest transaction; returns it.
    pub(super) fn pop_front(&mut self) -> Option<Record> {
        let old = self.records.pop_front()?;
        self.delays_ns.drain(..self.endpoints);
        self.by_signature.remove(&old.signature);
        Some(old)
    }

    /// How many transactions are retained.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The sequence number the next transaction will get.
    pub(super) fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The newest transaction.
    pub(super) fn back(&self) -> Option<&Record> {
        self.records.back()
    }

    /// The sequence number of the oldest retained transaction (the next one's if none is).
    fn first_sequence(&self) -> u64 {
        self.records
            .front()
            .map_or(self.next_sequence, |r| r.sequence)
    }

    /// The retained transaction with this sequence number.
    pub(super) fn get(&self, sequence: u64) -> Option<&Record> {
        let index = sequence.checked_sub(self.first_sequence())?;
        self.records.get(usize::try_from(index).ok()?)
    }

    /// The retained transaction with this signature.
    pub(super) fn by_signature(&self, signature: &[u8; 64]) -> Option<&Record> {
        self.get(*self.by_signature.get(signature)?)
    }

    /// The retained transactions from sequence number `from` on, oldest first.
    pub(super) fn since(&self, from: u64) -> impl Iterator<Item = &Record> {
        let skip =
            usize::try_from(from.saturating_sub(self.first_sequence())).unwrap_or(usize::MAX);
        self.records.range(skip.min(self.records.len())..)
    }

    /// The sequence number of the oldest retained transaction with a slot at or after `slot`
    /// (the next one's if there is none yet). Records are in slot order.
    pub(super) fn first_sequence_at(&self, slot: u64) -> u64 {
        let index = self.records.partition_point(|r| r.slot < slot);
        self.records
            .get(index)
            .map_or(self.next_sequence, |r| r.sequence)
    }

    /// Transactions with `slot <= max_slot`, newest first, strictly older than `before` (a
    /// sequence number) when given.
    pub(super) fn newest_first(
        &self,
        max_slot: u64,
        before: Option<u64>,
    ) -> impl Iterator<Item = &Record> {
        let mut end = self.records.partition_point(|r| r.slot <= max_slot);
        if let Some(before) = before {
            let index = before.saturating_sub(self.first_sequence());
            end = end.min(usize::try_from(index).unwrap_or(usize::MAX));
        }
        self.records.range(..end).rev()
    }

    /// The indexing delay of a retained `record` on `endpoint` (zero for an endpoint the
    /// chain was not told about, or a record that is not retained).
    pub(super) fn delay(&self, record: &Record, endpoint: usize) -> Duration {
        if endpoint >= self.endpoints {
            return Duration::ZERO;
        }
        let Some(offset) = record.sequence.checked_sub(self.first_sequence()) else {
            return Duration::ZERO;
        };
        let index = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_mul(self.endpoints))
            .and_then(|i| i.checked_add(endpoint));
        let ns = index.and_then(|i| self.delays_ns.get(i).copied());
        Duration::from_nanos(ns.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_and_lookups_follow_their_records_through_retention() {
        let models = [LatencyModel::lognormal(50.0, 0.8), LatencyModel::ZERO];
        let mut records = Records::new(100, models.len());
        assert_eq!(records.first_sequence_at(0), 100);
        for i in 0..10_u8 {
            let r = records.push(u64::from(i / 2), 0, [i; 64], 4, &models);
            assert_eq!(r.sequence, 100 + u64::from(i));
        }
        for _ in 0..3 {
            records.pop_front();
        }
        assert_eq!(records.len(), 7);
        assert!(records.by_signature(&[2; 64]).is_none());
        let r = *records.by_signature(&[5; 64]).unwrap();
        assert_eq!((r.sequence, r.slot), (105, 2));
        let expected = draw_indexing_delay(&models[0], 4, 0, 105);
        assert_eq!(
            records.delay(&r, 0),
            Duration::from_nanos(expected.as_nanos() as u64)
        );
        assert_eq!(records.delay(&r, 1), Duration::ZERO);
        assert_eq!(records.delay(&r, 2), Duration::ZERO);
        assert_eq!(records.first_sequence_at(2), 104);
        assert_eq!(records.first_sequence_at(9), 110);
        let since: Vec<u64> = records.since(108).map(|r| r.sequence).collect();
        assert_eq!(since, [108, 109]);
        let newest: Vec<u64> = records
            .newest_first(3, Some(107))
            .map(|r| r.sequence)
            .collect();
        assert_eq!(newest, [106, 105, 104, 103]);
    }
}
