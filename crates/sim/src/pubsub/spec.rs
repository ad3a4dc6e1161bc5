//! What a subscription asks for, parsed ([`Spec`]), and for launch subscriptions what they
//! watch ([`Watch`]): which launches match, and the `result` each notification carries.

use super::Endpoint;
use super::render::{self, Kind};
use crate::accounts::LaunchAccount;
use crate::chain::{CURVE_ROLE, Commitment, MINT_ROLE, Record, tx_keys};
use crate::templates::AccountEncoding;

/// What a launch subscription watches.
#[derive(Debug, Clone)]
pub(crate) enum Watch {
    /// `logsSubscribe`: every launch (`None`: `all`, or the program), or those mentioning a key.
    Logs(Option<[u8; 32]>),
    /// `accountSubscribe`: the launch creating this account.
    Account {
        key: [u8; 32],
        encoding: AccountEncoding,
    },
    /// `programSubscribe`: every new bonding curve if `matches` (the pump.fun program, with
    /// filters the curve passes), none otherwise.
    Program {
        matches: bool,
        encoding: AccountEncoding,
    },
    /// `signatureSubscribe`.
    Signature([u8; 64]),
}

impl Watch {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Watch::Logs(_) => Kind::Logs,
            Watch::Account { .. } => Kind::Account,
            Watch::Program { .. } => Kind::Program,
            Watch::Signature(_) => Kind::Signature,
        }
    }

    pub(crate) fn matches(&self, seed: u64, r: &Record) -> bool {
        match self {
            Watch::Logs(None) => true,
            Watch::Logs(Some(key)) => tx_keys(seed, r.sequence).accounts.contains(key),
            Watch::Account { key, .. } => {
                let keys = tx_keys(seed, r.sequence);
                keys.accounts[MINT_ROLE] == *key || keys.accounts[CURVE_ROLE] == *key
            }
            Watch::Program { matches, .. } => *matches,
            Watch::Signature(sig) => r.signature == *sig,
        }
    }

    /// The notification's result for launch `r`, with `context` as its slot.
    pub(crate) fn result(&self, ep: &Endpoint, r: &Record, context: u64) -> String {
        let seed = ep.seed;
        match self {
            Watch::Logs(_) => render::logs(&ep.chain, r),
            Watch::Account { key, encoding } => {
                let keys = tx_keys(seed, r.sequence);
                let account = if keys.accounts[MINT_ROLE] == *key {
                    LaunchAccount::Mint
                } else {
                    LaunchAccount::BondingCurve
                };
                render::account(context, account, *encoding)
            }
            Watch::Program { encoding, .. } => {
                let keys = tx_keys(seed, r.sequence);
                render::program(context, &keys.accounts[CURVE_ROLE], *encoding)
            }
            Watch::Signature(_) => render::signature(context),
        }
    }
}

/// A subscription request, parsed.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Slot,
    Root,
    Launch {
        watch: Watch,
        commitment: Commitment,
    },
}
