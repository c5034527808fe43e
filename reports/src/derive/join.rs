//! The mock timeline join's verdict on one level: the share of the requests expected at the mock
//! it matched ([`share`]), and whether the figures that pair a request with its mock record —
//! the timeline split, `outside_mock`, added latency and its interval, `gateway_overhead` — may
//! be computed ([`pairing`]): not when the join is partial (the rule in
//! [`super::flags::join_reason`]), and not on stamps from another host's clock.

use crate::schema::{JoinCounts, LevelRaw, LevelResult, Measured};

/// Why a level has no join at all (its timeline was not read).
pub const NOT_READ: &str = "the mock timeline was not read for this level (a sharded run recorded before shards read the shared mock's did not)";

/// How far a level's requests may be paired with the mock's records.
#[derive(Debug, Clone, PartialEq)]
pub enum Pairing {
    /// Matched on one clock, enough of them: every paired figure is computed.
    Paired,
    /// No join (the timeline was not read): no timeline split; added latency is the difference
    /// of the totals' percentiles, without an interval.
    NotJoined,
    /// The mock's stamps are on another host's clock (the reason): the timeline split and
    /// `outside_mock` are null; added latency is the difference of the totals' percentiles.
    ClockApart(String),
    /// The join matched too few of the requests (the reason): every paired figure is null.
    Partial(String),
}

impl Pairing {
    /// Why figures from the pairing are null here (`None` when they are computed, or were
    /// never part of the level).
    pub fn null_reason(&self) -> Option<&str> {
        match self {
            Pairing::Paired | Pairing::NotJoined => None,
            Pairing::ClockApart(why) | Pairing::Partial(why) => Some(why),
        }
    }
}

/// The join's share: requests matched over requests expected at the mock.
pub fn share(join: &JoinCounts) -> Measured<f64> {
    let expected = join.expected_at_mock();
    if join.requests == 0 {
        Measured::missing("no successful request to join")
    } else if expected == 0 {
        Measured::missing("no request was expected to reach the mock")
    } else {
        Measured::of(join.matched as f64 / expected as f64)
    }
}

/// How far `level`'s requests may be paired with the mock's records, from its `raw` join (a
/// partial join outranks stamps on another clock: nothing is paired then, not even by the
/// totals).
pub fn pairing(level: &LevelResult, raw: &LevelRaw) -> Pairing {
    let Some(join) = &raw.join else {
        return Pairing::NotJoined;
    };
    let overwritten = level.rig.timeline_overwritten.value;
    if let Some(reason) = super::flags::join_reason(join, overwritten) {
        return Pairing::Partial(reason);
    }
    match &join.clock_apart {
        Some(why) => Pairing::ClockApart(why.clone()),
        None => Pairing::Paired,
    }
}

/// The pairing of a level already derived (`direct`, the baseline of added latency); a level
/// with no raw section was never joined.
pub fn pairing_of(level: &LevelResult) -> Pairing {
    level
        .raw
        .as_ref()
        .map_or(Pairing::NotJoined, |raw| pairing(level, raw))
}
