//! Test support: throw-away PostgreSQL clusters and a backend-neutral test database, shared
//! by the unit tests, `tests/config_store.rs` and the Synapse harness. Not used by the
//! bridge itself.
//!
//! [`PgCluster::start`] runs `initdb` into a fresh temp folder and a `postgres` server on a
//! random free loopback port (listening on 127.0.0.1 only, its unix socket in the folder,
//! trust authentication, superuser `postgres`, fsync off; [`PgCluster::start_durable`] leaves
//! fsync on for benchmarks). As root it runs the server as the
//! unprivileged `postgres` user (or `nobody`) through `setpriv`, since `initdb` refuses root.
//! Binaries come from `$IMBRIDGE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
//! `PATH`. The cluster is stopped and its folder deleted on drop; a small reaper process also
//! does so when the test process ends without dropping it (a shared cluster, a panic, an
//! abort). Without PostgreSQL, [`PgCluster::start`] says why (for "skipped: no PostgreSQL").

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Result as StoreResult, Store};

/// Environment variable naming the folder of the PostgreSQL binaries.
pub const PG_BIN_ENV: &str = "IMBRIDGE_PG_BIN";

/// A running throw-away PostgreSQL cluster.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    server: Option<Child>,
    reaper: Option<Child>,
    /// fsync and full-page writes on (the server defaults), for benchmarks.
    durable: bool,
}

/// Why there is no PostgreSQL to test with (the text after "skipped: no PostgreSQL").
pub type Unavailable = String;

impl PgCluster {
    /// The cluster shared by every test of this process (started on first use).
    pub fn shared() -> Result<&'static PgCluster, Unavailable> {
        static SHARED: OnceLock<Result<PgCluster, Unavailable>> = OnceLock::new();
        SHARED
            .get_or_init(PgCluster::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts a new cluster; `Err` says why PostgreSQL is unavailable.
    pub fn start() -> Result<PgCluster, Unavailable> {
        Self::start_with(false)
    }

    /// [`PgCluster::start`] with fsync and full-page writes left on, as a production server
    /// runs (for benchmarks; the tests run without them).
    pub fn start_durable() -> Result<PgCluster, Unavailable> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<PgCluster, Unavailable> {
        let bin = find_bin()?;
        let run_as = unprivileged_user()?;
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imbridge-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            server: None,
            reaper: None,
            durable,
        };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to uid {uid}: {e}", cluster.dir.display()))?;
        }
        cluster.reaper = spawn_reaper(&cluster.dir).ok();
        cluster.init(run_as)?;
        // A free port can be taken between our probe and the server's bind: retry.
        let mut last = String::new();
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.run(run_as) {
                Ok(()) => return Ok(cluster),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn command(&self, program: &str, run_as: Option<(u32, u32)>) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(path);
                c
            }
            None => Command::new(path),
        };
        cmd.current_dir(&self.dir).env("LC_ALL", "C");
        cmd
    }

    fn init(&self, run_as: Option<(u32, u32)>) -> Result<(), Unavailable> {
        let out = self
            .command("initdb", run_as)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    fn run(&mut self, run_as: Option<(u32, u32)>) -> Result<(), Unavailable> {
        let log = std::fs::File::create(self.dir.join("server.log"))
            .map_err(|e| format!("cannot create the server log: {e}"))?;
        let child = self
            .command("postgres", run_as)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ])
            .args(if self.durable {
                &[][..]
            } else {
                &["-c", "fsync=off", "-c", "full_page_writes=off"][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run postgres: {e}"))?;
        let pid = child.id();
        self.server = Some(child);
        let _ = std::fs::write(self.dir.join("server.pid"), pid.to_string());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(server) = &mut self.server {
                if let Ok(Some(status)) = server.try_wait() {
                    self.server = None;
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    return Err(format!("postgres exited ({status}): {}", log.trim()));
                }
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        Err("postgres did not become ready within 30 s".into())
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI of database `name` (superuser `postgres`, no password).
    pub fn uri(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh UTF-8 database `t_<random>`; returns its URI.
    pub fn create_database(&self) -> Result<String, Unavailable> {
        let name = format!("t_{:016x}", rand::random::<u64>());
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-E", "UTF8", "-T", "template0", &name])
            .output()
            .map_err(|e| format!("cannot run createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "createdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(self.uri(&name))
    }

    /// Stops the server the hard way (SIGQUIT: immediate shutdown, crash recovery at the
    /// next start) and starts it again on the same port and data (fault injection: clients
    /// see their connections break and must reconnect). The reason when it does not come back.
    pub fn restart(&mut self) -> Result<(), Unavailable> {
        let run_as = unprivileged_user()?;
        self.stop();
        self.run(run_as)
    }

    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGQUIT: immediate shutdown (nothing to keep).
            let _ = Command::new("kill")
                .args(["-QUIT", &server.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(server.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process that waits for this one to end, then stops the server (pid in `server.pid`)
/// and deletes `dir`: cleanup for clusters that are never dropped.
fn spawn_reaper(dir: &Path) -> std::io::Result<Child> {
    let script = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        if [ -f "$2/server.pid" ]; then
            pid=$(cat "$2/server.pid")
            kill -QUIT "$pid" 2>/dev/null
            i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -rf "$2"
    "#;
    Command::new("setsid")
        .args(["sh", "-c", script, "imbridge-pg-reaper"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The folder of `initdb`, `postgres`, `pg_isready` and `createdb`.
fn find_bin() -> Result<PathBuf, Unavailable> {
    let has_all = |dir: &Path| {
        ["initdb", "postgres", "pg_isready", "createdb"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os(PG_BIN_ENV) {
        let dir = PathBuf::from(dir);
        return if has_all(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{PG_BIN_ENV}={} lacks initdb, postgres, pg_isready or createdb",
                dir.display()
            ))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_all(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| has_all(dir))
        .ok_or_else(|| {
            format!(
                "no initdb/postgres in ${PG_BIN_ENV}, /usr/lib/postgresql/*/bin or PATH \
                 (scripts/postgres/install.sh installs them)"
            )
        })
}

/// As root: the uid and gid to run the server as (`postgres`, else `nobody`).
fn unprivileged_user() -> Result<Option<(u32, u32)>, Unavailable> {
    let id = |args: &[&str]| -> Option<u32> {
        let out = Command::new("id").args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id(&["-u"]) != Some(0) {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        if let (Some(uid), Some(gid)) = (id(&["-u", user]), id(&["-g", user])) {
            return Ok(Some((uid, gid)));
        }
    }
    Err("running as root and there is no postgres or nobody user to run the server as".into())
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, Unavailable> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Which backend a [`TestDb`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sled,
    Postgres,
}

/// A fresh empty store for one test, on either backend: a sled folder under the temp dir
/// (deleted on drop), or a new database in the shared cluster. [`TestDb::open`] can be
/// called again after dropping the previous [`Store`] (reopen tests).
pub struct TestDb {
    pub backend: TestBackend,
    /// The sled folder (also made for PostgreSQL, for tests that want a scratch folder).
    pub dir: PathBuf,
    /// The PostgreSQL URI.
    pub uri: Option<String>,
}

impl TestDb {
    /// A sled store in a new temp folder named after `name`.
    pub fn sled(name: &str) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imbridge-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TestDb {
            backend: TestBackend::Sled,
            dir,
            uri: None,
        }
    }

    /// A new database in the shared cluster, or `None` after printing
    /// `skipped: no PostgreSQL (<why>)`.
    pub fn postgres(name: &str) -> Option<TestDb> {
        let made = if cfg!(feature = "postgres") {
            PgCluster::shared().and_then(PgCluster::create_database)
        } else {
            Err("built without the cargo feature `postgres`".into())
        };
        match made {
            Ok(uri) => {
                let mut db = TestDb::sled(name);
                db.backend = TestBackend::Postgres;
                db.uri = Some(uri);
                Some(db)
            }
            Err(why) => {
                eprintln!("{name}: skipped: no PostgreSQL ({why})");
                None
            }
        }
    }

    /// Opens the store (the sled folder's `db`, or the database).
    pub async fn open(&self) -> StoreResult<Store> {
        match &self.uri {
            Some(uri) => Store::open_postgres(uri, 4).await,
            None => Store::open(self.dir.join("db")).await,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Defines, for each named `async fn name(db: TestDb) -> Result<(), Box<dyn Error>>` in
/// scope, a module `name` with two tests, `sled` and `postgres`, running it on each backend
/// (the PostgreSQL one prints "skipped: no PostgreSQL (…)" and passes when there is none).
#[macro_export]
macro_rules! store_tests_on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sled() -> Result<(), Box<dyn std::error::Error>> {
                super::$name($crate::store::testing::TestDb::sled(stringify!($name))).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> Result<(), Box<dyn std::error::Error>> {
                match $crate::store::testing::TestDb::postgres(stringify!($name)) {
                    Some(db) => super::$name(db).await,
                    None => Ok(()),
                }
            }
        }
    )*};
}
