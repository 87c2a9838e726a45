//! Drives the official Web SDK (`tests/sdk/agent.js`, run in node) as a test peer: JSON
//! commands on its stdin, replies and SDK callbacks as JSON lines on its stdout.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Which official SDK.
#[derive(Clone, Copy, Debug)]
pub enum Sdk {
    Easemob,
    Agora,
}

/// One running SDK instance (one connection object).
pub struct SdkAgent {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Events seen but not yet consumed.
    backlog: VecDeque<Value>,
    next_id: u64,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when the SDK packages are installed (`npm ci` in tests/sdk).
pub fn sdk_installed() -> bool {
    repo()
        .join("tests/sdk/node_modules/easemob-websdk")
        .exists()
}

/// The JMessage Web SDK 2.5.0 bundle (never published on npm) in `../shared/vendor/` beside
/// the repository, when present. The project must not copy it into its own tree.
pub fn jmessage_bundle() -> Option<PathBuf> {
    let path = repo().join("../shared/vendor/jmessage-sdk-web-2.5.0/jmessage-sdk-web.2.5.0.min.js");
    path.exists().then_some(path)
}

impl SdkAgent {
    /// Starts an agent connected to the sandbox at `rest_url` / `ws_url`.
    pub async fn spawn(
        sdk: Sdk,
        app_key: &str,
        rest_url: &str,
        ws_url: &str,
        extra: &[&str],
    ) -> Self {
        assert!(
            sdk_installed(),
            "official SDKs not installed: run `npm ci --prefix tests/sdk` (the test command does)"
        );
        let sdk_name = match sdk {
            Sdk::Easemob => "easemob",
            Sdk::Agora => "agora",
        };
        let mut args: Vec<&str> = vec![
            "--sdk",
            sdk_name,
            "--app-key",
            app_key,
            "--api",
            rest_url,
            "--url",
            ws_url,
        ];
        args.extend_from_slice(extra);
        Self::spawn_script("tests/sdk/agent.js", &args)
    }

    /// Starts the Tencent Cloud Chat agent (`tests/sdk/tencent-agent.js`, `@tencentcloud/chat`)
    /// against the sandbox at `server` (`ws://127.0.0.1:PORT`).
    pub async fn spawn_tencent(sdk_app_id: u64, server: &str) -> Self {
        Self::spawn_tencent_with(sdk_app_id, server, &[]).await
    }

    /// [`Self::spawn_tencent`] with more agent flags (`--upload-plugin`: media with npm
    /// `tim-upload-plugin`).
    pub async fn spawn_tencent_with(sdk_app_id: u64, server: &str, extra: &[&str]) -> Self {
        assert!(
            repo()
                .join("tests/sdk/node_modules/@tencentcloud/chat")
                .exists(),
            "official SDKs not installed: run `npm ci --prefix tests/sdk` (the test command does)"
        );
        let app = sdk_app_id.to_string();
        // With `SDK_AGENT_STDERR=1`, the SDK logs everything (level 0) to stderr.
        let level = if std::env::var_os("SDK_AGENT_STDERR").is_some() {
            "0"
        } else {
            "4"
        };
        let mut args = vec![
            "--sdk-app-id",
            &app,
            "--server",
            server,
            "--log-level",
            level,
        ];
        args.extend_from_slice(extra);
        Self::spawn_script("tests/sdk/tencent-agent.js", &args)
    }

    /// Starts the Tencent agent running the older `tim-js-sdk` 2.27.6 (`--sdk tim`) against
    /// the sandbox at `server`: from `tests/sdk/node_modules` (installed by `npm ci --prefix
    /// tests/sdk`), or from the `node_modules` directory named by `TIM_JS_SDK_DIR`.
    pub async fn spawn_tim(sdk_app_id: u64, server: &str) -> Self {
        let dir = std::env::var_os("TIM_JS_SDK_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo().join("tests/sdk/node_modules"));
        assert!(
            dir.join("tim-js-sdk/package.json").exists(),
            "tim-js-sdk not installed in {}: run `npm ci --prefix tests/sdk`",
            dir.display()
        );
        let app = sdk_app_id.to_string();
        let dir = dir.to_string_lossy().into_owned();
        Self::spawn_script(
            "tests/sdk/tencent-agent.js",
            &[
                "--sdk-app-id",
                &app,
                "--server",
                server,
                "--log-level",
                "4",
                "--sdk",
                "tim",
                "--sdk-dir",
                &dir,
            ],
        )
    }

    /// Starts the JMessage Web SDK agent (`tests/sdk/jmessage-agent.js`) running the bundle at
    /// `bundle` (see [`jmessage_bundle`]) against the sandbox at `address` (`ws://127.0.0.1:PORT`).
    pub async fn spawn_jmessage(bundle: &std::path::Path, address: &str) -> Self {
        assert!(
            repo().join("tests/sdk/node_modules/ws").exists(),
            "npm packages not installed: run `npm ci --prefix tests/sdk` (the test command does)"
        );
        let bundle = bundle.to_string_lossy().into_owned();
        Self::spawn_script(
            "tests/sdk/jmessage-agent.js",
            &["--bundle", &bundle, "--address", address],
        )
    }

    /// Starts npm `socket.io-client` 2 (`tests/sdk/sio2-agent.js`) for `url`, reconnecting
    /// after `reconnection_delay_ms`.
    pub async fn spawn_sio2(url: &str, reconnection_delay_ms: u64) -> Self {
        assert!(
            repo()
                .join("tests/sdk/node_modules/socket.io-client")
                .exists(),
            "npm packages not installed: run `npm ci --prefix tests/sdk` (the test command does)"
        );
        let delay = reconnection_delay_ms.to_string();
        Self::spawn_script(
            "tests/sdk/sio2-agent.js",
            &["--url", url, "--reconnection-delay", &delay],
        )
    }

    /// Runs `node <script> <args>` (path relative to the repository) as an agent.
    fn spawn_script(script: &str, args: &[&str]) -> Self {
        let mut child = Command::new("node")
            .arg(repo().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // `SDK_AGENT_STDERR=1` shows the SDK's own log (to see why an SDK call failed).
            .stderr(if std::env::var_os("SDK_AGENT_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("agent stdout (not JSON): {line}"),
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Runs `op` with `args` and returns its result, or the SDK's error as `Err`.
    pub async fn request(&mut self, op: &str, args: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut cmd = args;
        cmd["id"] = json!(id);
        cmd["op"] = json!(op);
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("agent stdin");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let v = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("agent did not answer {op}"))
                .unwrap_or_else(|| panic!("agent exited during {op}"));
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                return if v["ok"] == json!(true) {
                    Ok(v["result"].clone())
                } else {
                    Err(v["error"].clone())
                };
            }
            self.backlog.push_back(v);
        }
    }

    /// Like [`SdkAgent::request`], panicking with the SDK error on failure.
    pub async fn ok(&mut self, op: &str, args: Value) -> Value {
        match self.request(op, args).await {
            Ok(v) => v,
            Err(e) => panic!("SDK {op} failed: {e}"),
        }
    }

    /// Calls a method of the SDK connection object.
    pub async fn call(&mut self, method: &str, args: Value) -> Result<Value, Value> {
        self.request("call", json!({ "method": method, "args": args }))
            .await
    }

    /// Waits (bounded) for SDK callback `name` whose data satisfies `matches`.
    pub async fn event(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.event_within(name, Duration::from_secs(15), matches)
            .await
            .unwrap_or_else(|| panic!("SDK event {name} did not arrive"))
    }

    /// Waits up to `limit` for callback `name`; `None` if it did not come.
    pub async fn event_within(
        &mut self,
        name: &str,
        limit: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if let Some(pos) = self
            .backlog
            .iter()
            .position(|v| v["event"] == json!(name) && matches(&v["data"]))
        {
            return self.backlog.remove(pos).map(|v| v["data"].clone());
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let v = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Err(_) | Ok(None) => return None,
                Ok(Some(v)) => v,
            };
            if v["event"] == json!(name) && matches(&v["data"]) {
                return Some(v["data"].clone());
            }
            self.backlog.push_back(v);
        }
    }

    /// Every event seen so far named `name` (without waiting).
    pub fn seen(&self, name: &str) -> Vec<Value> {
        self.backlog
            .iter()
            .filter(|v| v["event"] == json!(name))
            .map(|v| v["data"].clone())
            .collect()
    }

    /// Fails the test if the SDK hit an unhandled rejection or exception (a sandbox fault).
    pub fn assert_no_crash(&mut self) {
        while let Ok(v) = self.lines.try_recv() {
            self.backlog.push_back(v);
        }
        for bad in ["unhandledRejection", "uncaughtException"] {
            let seen = self.seen(bad);
            assert!(seen.is_empty(), "SDK reported {bad}: {seen:?}");
        }
    }

    /// Stops the agent process.
    pub async fn exit(mut self) {
        let _ = self.request("exit", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}
