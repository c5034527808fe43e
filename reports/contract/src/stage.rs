//! The gateway pipeline's stages, named once (docs/ARCHITECTURE.md, "Gateway pipeline stages"):
//! every stage map, histogram, table and chart uses exactly these names, in this order.

/// The pipeline stages, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Parse = 0,
    Auth,
    RateLimit,
    Route,
    Select,
    Mutate,
    Forward,
    Relay,
    Log,
    Meter,
}

/// Every stage's name, in pipeline order (`STAGES[stage as usize] == stage.name()`).
pub const STAGES: [&str; 10] = [
    "parse",
    "auth",
    "rate_limit",
    "route",
    "select",
    "mutate",
    "forward",
    "relay",
    "log",
    "meter",
];

impl Stage {
    /// Every stage in pipeline order.
    pub const ALL: [Stage; 10] = [
        Stage::Parse,
        Stage::Auth,
        Stage::RateLimit,
        Stage::Route,
        Stage::Select,
        Stage::Mutate,
        Stage::Forward,
        Stage::Relay,
        Stage::Log,
        Stage::Meter,
    ];

    /// The stage's name as used everywhere.
    pub fn name(self) -> &'static str {
        STAGES[self as usize]
    }

    /// The stage with this name, if it is one.
    pub fn from_name(name: &str) -> Option<Stage> {
        STAGES
            .iter()
            .position(|s| *s == name)
            .map(|index| Stage::ALL[index])
    }
}

/// Sort key putting known stages in pipeline order, then anything else by name.
pub fn stage_order(name: &str) -> (usize, String) {
    let position = STAGES
        .iter()
        .position(|s| *s == name)
        .unwrap_or(STAGES.len());
    (position, name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_agree() {
        for (index, stage) in Stage::ALL.iter().enumerate() {
            assert_eq!(*stage as usize, index);
            assert_eq!(Stage::from_name(stage.name()), Some(*stage));
        }
        assert_eq!(Stage::from_name("parse_body"), None);
        assert!(stage_order("relay") < stage_order("log"));
        assert!(stage_order("meter") < stage_order("runtime/other"));
    }
}
