//! Cross-field checks of a parsed [`Scenario`]: what serde's field-by-field parsing cannot see
//! (levels against the load model, connections against rig threads, prompt sizes against the
//! prompt, …). One function per group of checks, run in a fixed order so the first problem in
//! that order is the one reported; each message names the field.

use super::{min_prompt_tokens, LoadModel, Scenario, MAX_PROMPT_TOKENS, MAX_RATE_PER_RIG_THREAD};

impl Scenario {
    /// Cross-field checks; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_levels()?;
        self.validate_window_and_pool()?;
        self.validate_rig_capacity()?;
        let load = &self.load;
        if !(load.drain_s.is_finite() && load.drain_s >= 0.0) {
            return Err("[load] drain_s must be >= 0".into());
        }
        let least = min_prompt_tokens(&load.prompt);
        self.validate_prompt_tokens(least)?;
        self.validate_sweep(least)?;
        if let Some(bad) = self
            .rig
            .lag_threshold_ms
            .filter(|t| !(t.is_finite() && *t > 0.0))
        {
            return Err(format!("[rig] lag_threshold_ms must be > 0, got {bad}"));
        }
        self.validate_name()?;
        self.mock.validate()
    }

    /// `[load] levels`: at least one, each > 0, whole numbers in a closed loop.
    fn validate_levels(&self) -> Result<(), String> {
        let load = &self.load;
        if load.levels.is_empty() {
            return Err("[load] levels must list at least one level".into());
        }
        if let Some(bad) = load.levels.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return Err(format!("[load] levels must be > 0, got {bad}"));
        }
        if load.model == LoadModel::Closed && load.levels.iter().any(|l| l.fract() != 0.0) {
            return Err("[load] closed-loop levels are virtual users: whole numbers".into());
        }
        Ok(())
    }

    /// `[load]` durations and the connection pool's size.
    fn validate_window_and_pool(&self) -> Result<(), String> {
        let load = &self.load;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let valid_times = positive(load.duration_s)
            && positive(load.timeout_s)
            && load.warmup_s.is_finite()
            && load.warmup_s >= 0.0;
        if !valid_times {
            return Err("[load] duration_s and timeout_s must be > 0 and warmup_s >= 0".into());
        }
        if load.connections == 0 {
            return Err("[load] connections must be at least 1".into());
        }
        Ok(())
    }

    /// `[rig] threads` against the load: every open-loop worker needs a connection, and no
    /// thread is asked to schedule more than [`MAX_RATE_PER_RIG_THREAD`].
    fn validate_rig_capacity(&self) -> Result<(), String> {
        let load = &self.load;
        if self.rig.threads == 0 {
            return Err("[rig] threads must be at least 1".into());
        }
        if load.model != LoadModel::Closed && load.connections < self.rig.threads {
            return Err(format!(
                "[load] connections = {} is below [rig] threads = {}: every load worker needs a connection (raise connections or lower threads)",
                load.connections, self.rig.threads
            ));
        }
        if load.model != LoadModel::Closed {
            let most = MAX_RATE_PER_RIG_THREAD * self.rig.threads as f64;
            if let Some(rate) = load.levels.iter().find(|r| **r > most) {
                return Err(format!(
                    "[load] level {rate} req/s is more than {} rig thread(s) can schedule (about {MAX_RATE_PER_RIG_THREAD} req/s each): raise [rig] threads, or shard the run (--shard)",
                    self.rig.threads
                ));
            }
        }
        Ok(())
    }

    /// `[load] prompt_tokens`, if set: no fewer than `least` (the prompt and its tag) and no
    /// more than [`MAX_PROMPT_TOKENS`].
    fn validate_prompt_tokens(&self, least: u32) -> Result<(), String> {
        let Some(tokens) = &self.load.prompt_tokens else {
            return Ok(());
        };
        let fewest = match tokens {
            rig_primitives::Distribution::Fixed(v) => *v,
            rig_primitives::Distribution::Uniform { min, .. } => *min,
            // Tails below the minimum are padded to none (see README).
            _ => tokens.mean(),
        };
        if fewest < f64::from(least) {
            return Err(format!(
                "[load] prompt_tokens goes down to {fewest}: the prompt and its request-id tag alone take up to {least} tokens (shorten [load] prompt or ask for more)"
            ));
        }
        let most = tokens.nominal_max();
        if !(most.is_finite() && most <= MAX_PROMPT_TOKENS) {
            return Err(format!(
                "[load] prompt_tokens reaches {most}: at most {MAX_PROMPT_TOKENS} tokens (the mock's and the reference gateway's 1 MiB body limits)"
            ));
        }
        Ok(())
    }

    /// `[sweep] prompt_tokens`, if set: at one offered load, not beside `[load] prompt_tokens`,
    /// each size `least..=MAX_PROMPT_TOKENS`.
    fn validate_sweep(&self, least: u32) -> Result<(), String> {
        let load = &self.load;
        if self.sweep.prompt_tokens.is_empty() {
            return Ok(());
        }
        if load.levels.len() != 1 {
            return Err(format!(
                "[sweep] prompt_tokens runs at one offered load: [load] levels must hold one level, not {}",
                load.levels.len()
            ));
        }
        if load.prompt_tokens.is_some() {
            return Err("[sweep] prompt_tokens and [load] prompt_tokens both set: keep one".into());
        }
        if let Some(bad) = self
            .sweep
            .prompt_tokens
            .iter()
            .find(|&&t| !(least..=MAX_PROMPT_TOKENS as u32).contains(&t))
        {
            return Err(format!(
                "[sweep] prompt_tokens {bad}: each size must be {least}..={MAX_PROMPT_TOKENS} tokens (the prompt and its request-id tag alone take up to {least})"
            ));
        }
        Ok(())
    }

    /// `name`: non-empty, letters, digits, `-` or `_` (it names the run directory).
    fn validate_name(&self) -> Result<(), String> {
        let valid = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "name `{}` must be non-empty letters, digits, - or _",
                self.name
            ));
        }
        Ok(())
    }
}
