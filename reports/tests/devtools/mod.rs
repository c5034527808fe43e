//! A minimal Chrome DevTools protocol client for the browser test: one headless Chromium, one
//! page, commands and events over `--remote-debugging-pipe` (NUL-terminated JSON; the browser
//! reads commands on its fd 3 and writes replies and events on its fd 4). No network, no
//! WebSocket.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Longest the browser may take for any one step (launch, a command, an awaited event).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// A headless Chromium with one page attached (`Runtime`, `Log` and `Page` events on).
pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    /// Every event received so far, oldest first.
    pub events: Vec<Value>,
    next_id: u64,
    /// The page's flat-mode session id.
    session: String,
    profile_dir: PathBuf,
}

impl Browser {
    /// Starts `binary` with a fresh profile under `out_dir` (its stderr in `chromium.log`
    /// there) and opens a blank page.
    pub fn launch(binary: &Path, out_dir: &Path) -> Browser {
        let profile_dir = out_dir.join(format!("profile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile_dir);
        std::fs::create_dir_all(&profile_dir).expect("create the browser profile dir");
        let log = std::fs::File::create(out_dir.join("chromium.log")).expect("create chromium.log");
        // `sh` moves our stdin/stdout pipes to the fds 3/4 the pipe protocol uses.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" 3<&0 4>&1 </dev/null 1>&2")
            .arg(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile_dir.display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let commands = child.stdin.take().expect("stdin is piped");
        let replies = child.stdout.take().expect("stdout is piped");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut replies = BufReader::new(replies);
            let mut message = Vec::new();
            while matches!(replies.read_until(0, &mut message), Ok(n) if n > 0) {
                if message.last() == Some(&0) {
                    message.pop();
                }
                let parsed = serde_json::from_slice(&message).expect("the browser sends JSON");
                if sender.send(parsed).is_err() {
                    break;
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            commands,
            messages,
            events: Vec::new(),
            next_id: 1,
            session: String::new(),
            profile_dir,
        };
        let target = browser.send(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("attachToTarget returns a session id")
            .to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends a command to the page and waits for its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// The value of `expression` in the page's main frame, or in execution context `context`
    /// (another frame's). Panics when it throws.
    pub fn evaluate(&mut self, context: Option<i64>, expression: &str) -> Value {
        let mut params = json!({"expression": expression, "returnByValue": true});
        if let Some(context) = context {
            params["contextId"] = json!(context);
        }
        let result = self.call("Runtime.evaluate", params);
        if let Some(details) = result.get("exceptionDetails") {
            panic!("`{expression}` threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// Sends a command (to the browser, or to a page's `session`) and waits for its result.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&command).expect("serializes");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("browser gone before {method}: {e}; see chromium.log"));
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let message = self.receive(deadline, method);
            if message["id"] == json!(id) {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.events.push(message);
        }
    }

    /// Waits for the first event (new or already received) that `wanted` accepts.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(event) = self.events.iter().find(|e| wanted(e)) {
            return event.clone();
        }
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let message = self.receive(deadline, what);
            self.events.push(message.clone());
            if wanted(&message) {
                return message;
            }
        }
    }

    /// Takes in every event that arrives until none has for `quiet`.
    pub fn settle(&mut self, quiet: Duration) {
        while let Ok(message) = self.messages.recv_timeout(quiet) {
            self.events.push(message);
        }
    }

    fn receive(&mut self, deadline: Instant, what: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the browser exited while waiting for {what}; see chromium.log")
            }
        }
    }

    /// The default execution contexts (one per loaded document) still alive, other than the
    /// frame `except_frame`'s.
    pub fn frame_contexts(&self, except_frame: &Value) -> Vec<Value> {
        let destroyed: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| e["method"] == "Runtime.executionContextDestroyed")
            .map(|e| &e["params"]["executionContextId"])
            .collect();
        self.events
            .iter()
            .filter(|e| e["method"] == "Runtime.executionContextCreated")
            .map(|e| &e["params"]["context"])
            .filter(|c| {
                c["auxData"]["isDefault"] == true && &c["auxData"]["frameId"] != except_frame
            })
            .filter(|c| !destroyed.contains(&&c["id"]))
            .cloned()
            .collect()
    }

    /// Every script error seen so far, in order, from any frame: uncaught exceptions and
    /// rejections, `console.error` calls, and browser log entries at level `error` (such as an
    /// invalid SVG attribute value).
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|event| {
                let params = &event["params"];
                match event["method"].as_str()? {
                    "Runtime.exceptionThrown" => {
                        let details = &params["exceptionDetails"];
                        let description = details["exception"]["description"]
                            .as_str()
                            .or(details["text"].as_str())
                            .unwrap_or("exception");
                        Some(format!(
                            "uncaught: {description} (at {}:{})",
                            details["url"].as_str().unwrap_or("?"),
                            details["lineNumber"]
                        ))
                    }
                    "Runtime.consoleAPICalled" if params["type"] == "error" => {
                        Some(format!("console.error: {}", params["args"]))
                    }
                    "Log.entryAdded" if params["entry"]["level"] == "error" => Some(format!(
                        "log: {} (at {})",
                        params["entry"]["text"].as_str().unwrap_or("?"),
                        params["entry"]["url"].as_str().unwrap_or("?")
                    )),
                    _ => None,
                }
            })
            .map(|error| readable(&error))
            .collect()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .commands
            .write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0");
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile_dir);
    }
}

/// `text` with each flamegraph `data:` URI (the whole SVG, or the browser's shortened form)
/// replaced by the flamegraph's title.
fn readable(text: &str) -> String {
    let data_uri =
        regex::Regex::new(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]*(\.\.\.[A-Za-z0-9+/=]+)?")
            .expect("a valid regex");
    let title =
        regex::Regex::new(r#"<text id="title"[^>]*>([^<]*)</text>"#).expect("a valid regex");
    data_uri
        .replace_all(text, |found: &regex::Captures| {
            let encoded = &found[0]["data:image/svg+xml;base64,".len()..];
            let svg = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_default();
            match title.captures(&svg) {
                Some(name) => format!("[flamegraph “{}”]", &name[1]),
                None => "[data: URI]".to_string(),
            }
        })
        .into_owned()
}
