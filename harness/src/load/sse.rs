//! Incremental Server-Sent Events parser, by the WHATWG HTML "event stream" rules: lines end in
//! CRLF, LF or CR (a CRLF split across two reads is still one line end); `:` starts a comment;
//! `field: value` drops one leading space from the value; `data` lines join with `\n`; an empty
//! line dispatches the event if it has data; a leading BOM is skipped. Bytes may arrive in any
//! split — the caller stamps each event with the time of the read that completed it.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `event:` field, if any (the spec's default type is "message").
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:` field, if any.
    pub id: Option<String>,
}

/// Parser state carried between reads.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    after_cr: bool,
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds one read's bytes; completed events are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started && !bytes.is_empty() {
            // A BOM may itself be split; handle the common whole-BOM case and partial prefixes.
            let bom = [0xEF, 0xBB, 0xBF];
            let take = bytes.len().min(3);
            if bytes[..take] == bom[..take] && take == 3 {
                bytes = &bytes[3..];
            }
            self.started = true;
        }
        // Whole runs of line bytes at a time: a chunk is a few hundred bytes and two line ends.
        while !bytes.is_empty() {
            let Some(at) = memchr::memchr2(b'\n', b'\r', bytes) else {
                self.after_cr = false;
                self.line.extend_from_slice(bytes);
                return;
            };
            if at > 0 {
                self.after_cr = false;
                self.line.extend_from_slice(&bytes[..at]);
            }
            match bytes[at] {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.end_line(out),
                _ => {
                    self.end_line(out);
                    self.after_cr = true;
                }
            }
            bytes = &bytes[at + 1..];
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        self.after_cr = false;
        if self.line.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.process_line(&line);
        self.line = line;
        self.line.clear();
    }

    fn process_line(&mut self, line: &[u8]) {
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Nearly always valid: the fast check first, the lossy copy only for a bad byte.
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            _ => {} // `retry` and unknown fields do not affect events
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
                id: self.id.clone(),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }

    /// Whether bytes of an unfinished event are buffered (a stream ending here was cut short).
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(bytes, &mut out);
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn an_invalid_byte_becomes_the_replacement_character() {
        let events = parse_all(b"data: a\xffb\n\n");
        assert_eq!(data(&events), ["a\u{fffd}b"]);
    }

    #[test]
    fn simple_events_and_done() {
        let events = parse_all(b"data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(data(&events), ["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn multi_line_data_joins_with_newline() {
        assert_eq!(data(&parse_all(b"data: a\ndata: b\ndata\n\n")), ["a\nb\n"]);
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(data(&parse_all(b": keep-alive\n\n:x\ndata: y\n\n")), ["y"]);
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(
            data(&parse_all(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n")),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn crlf_split_across_reads_is_one_line_end() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"data: a\r", &mut out);
        parser.feed(b"\ndata: b\r", &mut out);
        parser.feed(b"\n\r\n", &mut out);
        assert_eq!(data(&out), ["a\nb"]);
    }

    #[test]
    fn only_one_leading_space_is_removed() {
        assert_eq!(
            data(&parse_all(b"data:  two\n\ndata:none\n\n")),
            [" two", "none"]
        );
    }

    #[test]
    fn event_and_id_fields() {
        let events = parse_all(b"event: ping\nid: 7\ndata: x\n\ndata: y\n\n");
        assert_eq!(events[0].event.as_deref(), Some("ping"));
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[1].event, None, "event type resets after dispatch");
        assert_eq!(events[1].id.as_deref(), Some("7"), "last event id persists");
    }

    #[test]
    fn empty_data_buffer_does_not_dispatch() {
        assert!(parse_all(b"event: x\n\nretry: 5\n\n").is_empty());
    }

    #[test]
    fn bom_is_skipped_and_unterminated_event_is_partial() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"\xEF\xBB\xBFdata: a\n\ndata: cut", &mut out);
        assert_eq!(data(&out), ["a"]);
        assert!(parser.has_partial_event());
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            events in proptest::collection::vec("[a-z{}\":, ]{0,12}", 0..8),
            line_end in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut stream = String::new();
            for (i, e) in events.iter().enumerate() {
                if i % 3 == 0 {
                    stream.push_str(&format!(": comment{line_end}"));
                }
                stream.push_str(&format!("data: {e}{line_end}{line_end}"));
            }
            let bytes = stream.as_bytes();
            let whole = parse_all(bytes);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.sort_unstable();
            let mut parser = SseParser::new();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                parser.feed(&bytes[last..p], &mut pieces);
                last = p;
            }
            prop_assert_eq!(&pieces, &whole);
            prop_assert_eq!(whole.len(), events.len());
        }
    }
}
