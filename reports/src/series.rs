//! The latency series a level records, named once: the keys of `latency` and `histograms` in
//! `run.json`. The load generator records [`Series::RECORDED`] for every level; the mock
//! timeline join adds [`Series::SPLIT`]; the derive step adds [`Series::GatewayOverhead`].

/// One latency series (every value in it is a duration; histograms are in µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    /// Intended send → last byte (coordinated omission corrected).
    E2e,
    /// Actual send → last byte.
    E2eUncorrected,
    /// → response head.
    Ttfb,
    /// → first content chunk.
    Ttft,
    /// Every gap between content chunks.
    Itl,
    /// (e2e − ttft) / (completion tokens − 1).
    Tpot,
    /// Actual − intended send time (open loop).
    SendLag,
    /// The longest gap of each stream.
    MaxGap,
    /// Client send → mock received.
    RequestPath,
    /// Mock sent its first chunk → client got it.
    FirstTokenRelay,
    /// The same for chunks 2..n.
    ChunkRelay,
    /// Mock done → client done.
    Tail,
    /// Client e2e from the actual send minus the mock's own service time, per request.
    OutsideMock,
    /// First token − actual send − (mock's first chunk − received), per request.
    OutsideMockTtft,
    /// `outside_mock` − direct's median at the level (signed; derived, never recorded).
    GatewayOverhead,
}

impl Series {
    /// What the load generator records at every level, in `run.json` order.
    pub const RECORDED: [Series; 8] = [
        Series::E2e,
        Series::E2eUncorrected,
        Series::Ttfb,
        Series::Ttft,
        Series::Itl,
        Series::Tpot,
        Series::SendLag,
        Series::MaxGap,
    ];

    /// What the mock timeline join adds when the timeline was read.
    pub const SPLIT: [Series; 6] = [
        Series::RequestPath,
        Series::FirstTokenRelay,
        Series::ChunkRelay,
        Series::Tail,
        Series::OutsideMock,
        Series::OutsideMockTtft,
    ];

    /// The key in `run.json`.
    pub const fn name(self) -> &'static str {
        match self {
            Series::E2e => "e2e",
            Series::E2eUncorrected => "e2e_uncorrected",
            Series::Ttfb => "ttfb",
            Series::Ttft => "ttft",
            Series::Itl => "itl",
            Series::Tpot => "tpot",
            Series::SendLag => "send_lag",
            Series::MaxGap => "max_gap",
            Series::RequestPath => "request_path",
            Series::FirstTokenRelay => "first_token_relay",
            Series::ChunkRelay => "chunk_relay",
            Series::Tail => "tail",
            Series::OutsideMock => "outside_mock",
            Series::OutsideMockTtft => "outside_mock_ttft",
            Series::GatewayOverhead => "gateway_overhead",
        }
    }

    /// Whether the series times tokens (empty in a non-streaming scenario).
    pub const fn is_token_timing(self) -> bool {
        matches!(
            self,
            Series::Ttft | Series::Itl | Series::Tpot | Series::MaxGap | Series::OutsideMockTtft
        )
    }
}

impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
