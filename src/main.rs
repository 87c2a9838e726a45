//! The `imbridge` command line: the bridge daemon, its registration and config check, and the
//! IM sandboxes.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use imbridge::config::{
    generate_double_puppet_registration, generate_registration, Config, LogFormat,
};
#[cfg(feature = "easemob")]
use imbridge::network::easemob::proto::provision::CompressDirection;
#[cfg(feature = "easemob")]
use imbridge::network::easemob::sandbox::{self, Sandbox, SandboxConfig};

#[derive(Parser)]
#[command(
    name = "imbridge",
    version,
    about = "Matrix bridge for Easemob / Agora Chat, Tencent Cloud Chat and JiGuang JMessage"
)]
struct Cli {
    /// The bridge's config file.
    #[arg(
        short = 'c',
        long = "config",
        default_value = "bridge.yaml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge (the default).
    Run,
    /// Write the appservice registration for the homeserver (random tokens, mode 0600).
    GenerateRegistration {
        /// Where to write it (default: appservice.registration, or registration.yaml).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Write the double puppeting registration instead (url null, non-exclusive
        /// `@.*:domain`; default file doublepuppet-registration.yaml).
        #[arg(long = "double-puppet")]
        double_puppet: bool,
    },
    /// Check the config file and report every problem with its line.
    CheckConfig,
    /// Copy the configured sled store (`database.path`) into an empty PostgreSQL database,
    /// exactly, and verify the copy record by record. Stop the bridge first.
    MigrateStore {
        /// The target database: postgres://user:password@host:port/db (or host=… dbname=…).
        #[arg(long = "to", value_name = "URI")]
        to: String,
        /// Copy from this sled folder instead of the config's `database.path`.
        #[arg(long = "from", value_name = "FOLDER")]
        from: Option<PathBuf>,
    },
    /// Run a sandbox IM server (for tests, demos and trying the bridge without a cloud account).
    Sandbox {
        #[command(subcommand)]
        network: SandboxNetwork,
    },
}

#[derive(Subcommand)]
enum SandboxNetwork {
    /// The Easemob / Agora Chat sandbox: msync websocket + REST on one port.
    #[cfg(feature = "easemob")]
    Easemob {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: String,
        /// Application key, `org#app`.
        #[arg(long, default_value = "demo#sandbox")]
        app_key: String,
        /// Keep state (users, messages, files) in this folder across restarts.
        #[arg(long)]
        data: Option<PathBuf>,
        /// LZ4 compression granted to clients that offer it.
        #[arg(long, value_enum, default_value = "bi")]
        compression: Compression,
        /// Create these users (`name:password`) at start-up if they do not exist.
        #[arg(long = "user", value_name = "NAME:PASSWORD")]
        users: Vec<String>,
        /// Make these users (comma-separated) contacts of each other; repeatable.
        #[arg(long = "contacts", value_name = "NAME,NAME,...")]
        contacts: Vec<String>,
    },
    /// The Tencent Cloud Chat (TIM) sandbox: `/binfo` + `/info` websockets and the REST
    /// admin API on one port (in memory, or saved to `--data DIR`).
    #[cfg(feature = "tencent")]
    Tencent {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18090")]
        listen: String,
        /// The app's SDKAppID.
        #[arg(long, default_value_t = 1400000001)]
        sdk_app_id: u64,
        /// The app's SecretKey: UserSigs must be signed with it.
        #[arg(long)]
        secret_key: String,
        /// Import these accounts at start-up and print a 24 h UserSig for each (and for the
        /// admin `administrator`).
        #[arg(long = "user", value_name = "NAME")]
        users: Vec<String>,
        /// Send frames longer than BYTES `COMP`-compressed to clients that ask for it.
        #[arg(long, value_name = "BYTES")]
        compress_over: Option<usize>,
        /// At most N Web instances of one account online at once (the console's
        /// multi-instance setting): a login past it kicks the oldest out (kick type 1).
        /// Without it, no limit.
        #[arg(long, value_name = "N")]
        web_instances: Option<usize>,
        /// The multi-device policy "one platform at a time": a login on one platform kicks
        /// the account's instances on the others out (kick type 2).
        #[arg(long)]
        single_platform: bool,
        /// Keep accounts, offline messages, groups and profiles in DIR/state.json across
        /// restarts.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// The JiGuang JMessage sandbox: socket.io (Engine.IO v3) at `/socket.io/` and the `/v1`
    /// admin REST on one port (in memory, or saved to `--data DIR`).
    #[cfg(feature = "jmessage")]
    Jmessage {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:18100")]
        listen: String,
        /// The app's appkey.
        #[arg(long, default_value = "sandboxappkey00000000000")]
        app_key: String,
        /// The app's masterSecret: `c_init` signatures and REST Basic auth are checked with it.
        #[arg(long)]
        master_secret: String,
        /// Serve another app of the same service too, for cross-app users (a socket picks
        /// its app at `c_init`, a REST call by its Basic auth).
        #[arg(long = "cross-app", value_name = "APPKEY:MASTER_SECRET")]
        cross_apps: Vec<String>,
        /// Register these users at start-up: `name:password` in the app of `--app-key`,
        /// `name/APPKEY:password` in the `--cross-app` APPKEY.
        #[arg(long = "user", value_name = "NAME:PASSWORD")]
        users: Vec<String>,
        /// Keep users, inboxes, groups, uploads and profiles in DIR across restarts (a
        /// `--cross-app` app's in DIR/apps/APPKEY).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

/// LZ4 compression the Easemob sandbox grants (`--compression`).
#[cfg(feature = "easemob")]
#[derive(Clone, Copy, clap::ValueEnum)]
enum Compression {
    None,
    Up,
    Down,
    Bi,
}

/// Two futures that resolve together on SIGTERM / SIGINT: one for a sandbox server, one for
/// the task saving its state (which then saves once more).
#[cfg(any(feature = "tencent", feature = "jmessage"))]
fn shutdown_pair() -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let (mut a, mut b) = (tx.subscribe(), tx.subscribe());
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(());
    });
    (
        async move {
            let _ = a.recv().await;
        },
        async move {
            let _ = b.recv().await;
        },
    )
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn report_config_errors(e: &imbridge::config::ConfigErrors) {
    imbridge::logging::fatal(&e.to_string());
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cli.config).await,
        Command::GenerateRegistration {
            output,
            double_puppet,
        } => {
            imbridge::logging::init("warn", LogFormat::Auto);
            match Config::load_for_registration(&cli.config) {
                Err(e) => {
                    report_config_errors(&e);
                    return std::process::ExitCode::FAILURE;
                }
                Ok(cfg) => if double_puppet {
                    generate_double_puppet_registration(&cfg, output.as_deref())
                } else {
                    generate_registration(&cfg, output.as_deref())
                }
                .map(|generated| {
                    println!("wrote {}", generated.path.display());
                    for note in generated.notes {
                        println!("note: {note}");
                    }
                })
                .map_err(anyhow::Error::from),
            }
        }
        Command::CheckConfig => match Config::load(&cli.config) {
            Ok(cfg) => {
                for w in cfg.warnings() {
                    println!("warning: {}", w.display_in(cfg.source()));
                }
                println!("{}: OK", cli.config.display());
                Ok(())
            }
            Err(e) => {
                report_config_errors(&e);
                return std::process::ExitCode::FAILURE;
            }
        },
        Command::MigrateStore { to, from } => {
            imbridge::logging::init("warn", LogFormat::Auto);
            migrate_store(&cli.config, &to, from).await
        }
        #[cfg(feature = "easemob")]
        Command::Sandbox {
            network:
                SandboxNetwork::Easemob {
                    listen,
                    app_key,
                    data,
                    compression,
                    users,
                    contacts,
                },
        } => {
            imbridge::logging::init("info", LogFormat::Auto);
            run_easemob_sandbox(listen, app_key, data, compression, users, contacts).await
        }
        #[cfg(feature = "tencent")]
        Command::Sandbox {
            network:
                SandboxNetwork::Tencent {
                    listen,
                    sdk_app_id,
                    secret_key,
                    users,
                    compress_over,
                    web_instances,
                    single_platform,
                    data,
                },
        } => {
            imbridge::logging::init("info", LogFormat::Auto);
            let mut cfg =
                imbridge::network::tencent::sandbox::SandboxConfig::new(sdk_app_id, &secret_key);
            cfg.compress_over = compress_over;
            cfg.web_instances = web_instances;
            cfg.single_platform = single_platform;
            run_tencent_sandbox(listen, cfg, users, data).await
        }
        #[cfg(feature = "jmessage")]
        Command::Sandbox {
            network:
                SandboxNetwork::Jmessage {
                    listen,
                    app_key,
                    master_secret,
                    cross_apps,
                    users,
                    data,
                },
        } => {
            imbridge::logging::init("info", LogFormat::Auto);
            let mut apps = vec![(app_key, master_secret)];
            apps.extend(cross_apps.iter().map(|spec| match spec.split_once(':') {
                Some((k, s)) => (k.to_owned(), s.to_owned()),
                None => (spec.clone(), String::new()),
            }));
            run_jmessage_sandbox(listen, apps, users, data).await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            imbridge::logging::fatal(&format!("imbridge: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: PathBuf) -> anyhow::Result<()> {
    let cfg = match Config::load(&config) {
        Ok(cfg) => cfg,
        Err(e) => {
            report_config_errors(&e);
            anyhow::bail!("the config has problems");
        }
    };
    imbridge::logging::init(&cfg.logging.env_filter(), cfg.logging.format);
    for w in cfg.warnings() {
        tracing::warn!("config: {}", w.display_in(cfg.source()));
    }
    let (tx, rx) = tokio::sync::broadcast::channel(1);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(());
    });
    imbridge::daemon::run(cfg, rx).await
}

/// `imbridge migrate-store`: sled (from the config, or `--from`) → PostgreSQL at `to`.
async fn migrate_store(config: &Path, to: &str, from: Option<PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use imbridge::store::{copy::copy_store, Store};
    let path = match from {
        Some(path) => path,
        None => match Config::load_for_registration(config) {
            Ok(cfg) => cfg.database.path.clone(),
            Err(e) => {
                report_config_errors(&e);
                anyhow::bail!("the config has problems");
            }
        },
    };
    if !path.exists() {
        anyhow::bail!("there is no sled store at {}", path.display());
    }
    let target_name = imbridge::config::redact_uri(to);
    let source = Store::open(&path)
        .await
        .with_context(|| format!("cannot open the sled store {}", path.display()))?;
    let target = Store::open_postgres(to, 2)
        .await
        .with_context(|| format!("cannot open the target database {target_name}"))?;
    let report = copy_store(&source, &target)
        .await
        .with_context(|| format!("copying into {target_name} failed"))?;
    println!(
        "copied {report}\nfrom {} to {}, verified record by record",
        source.describe(),
        target.describe()
    );
    println!("next: set database.type: postgres and database.uri in the config, then start");
    Ok(())
}

#[cfg(feature = "tencent")]
async fn run_tencent_sandbox(
    listen: String,
    cfg: imbridge::network::tencent::sandbox::SandboxConfig,
    users: Vec<String>,
    data: Option<PathBuf>,
) -> anyhow::Result<()> {
    use imbridge::network::tencent::sandbox as tencent;
    if cfg.secret_key.is_empty() {
        anyhow::bail!("--secret-key must not be empty");
    }
    if cfg.web_instances == Some(0) {
        anyhow::bail!("--web-instances must be at least 1");
    }
    let sandbox = std::sync::Arc::new(match &data {
        Some(dir) => tencent::Sandbox::open(cfg, dir)?,
        None => tencent::Sandbox::new(cfg),
    });
    let admin = sandbox.cfg.admin.clone();
    for name in users.iter().chain(std::iter::once(&admin)) {
        if name.is_empty() {
            anyhow::bail!("--user wants a non-empty NAME");
        }
        sandbox.import(name);
        // UserSigs are credentials for this sandbox only; printed so demos can log in.
        println!("user {name} usersig {}", sandbox.user_sig(name, 86_400));
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let Some(dir) = data else {
        return tencent::serve(listener, sandbox, shutdown_signal()).await;
    };
    let (server_stop, saver_stop) = shutdown_pair();
    let saver = tokio::spawn(tencent::persist::persist_loop(
        sandbox.clone(),
        dir,
        saver_stop,
    ));
    let served = tencent::serve(listener, sandbox, server_stop).await;
    let _ = saver.await;
    served
}

#[cfg(feature = "jmessage")]
/// `apps`: `(appkey, masterSecret)`, the `--app-key` app first.
async fn run_jmessage_sandbox(
    listen: String,
    apps: Vec<(String, String)>,
    users: Vec<String>,
    data: Option<PathBuf>,
) -> anyhow::Result<()> {
    use imbridge::network::jmessage::sandbox as jmessage;
    use std::sync::Arc;
    let mut sandboxes: Vec<(Arc<jmessage::Sandbox>, Option<PathBuf>)> = Vec::new();
    for (i, (app_key, master_secret)) in apps.iter().enumerate() {
        if app_key.is_empty()
            || master_secret.is_empty()
            || !app_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            anyhow::bail!(
                "an appkey (letters and digits) and its masterSecret must not be empty, \
                 got {app_key:?}"
            );
        }
        if apps[..i].iter().any(|(k, _)| k == app_key) {
            anyhow::bail!("the app {app_key:?} is given twice");
        }
        let cfg = jmessage::SandboxConfig::new(app_key, master_secret);
        let dir = data.as_ref().map(|d| match i {
            0 => d.clone(),
            _ => d.join("apps").join(app_key),
        });
        let sandbox = match &dir {
            Some(dir) => jmessage::Sandbox::open(cfg, dir)?,
            None => jmessage::Sandbox::new(cfg),
        };
        sandboxes.push((Arc::new(sandbox), dir));
    }
    let all: Vec<Arc<jmessage::Sandbox>> = sandboxes.iter().map(|(s, _)| s.clone()).collect();
    jmessage::federate(&all);
    let primary = all[0].clone();
    for spec in users {
        let (name, password) = spec
            .split_once(':')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--user wants NAME:PASSWORD, got {spec:?}"))?;
        let (name, app) = match name.split_once('/') {
            Some((n, k)) => (n, primary.app(k)),
            None => (name, Some(primary.clone())),
        };
        let app = app.ok_or_else(|| anyhow::anyhow!("--user {spec:?}: no such --cross-app"))?;
        if !app.has_user(name) && !app.register(name, password) {
            anyhow::bail!("--user {name:?}: not a JMessage username (letters, digits, _ . - @)");
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    if data.is_none() {
        return jmessage::serve(listener, primary, shutdown_signal()).await;
    }
    let (server_stop, saver_stop) = shutdown_pair();
    let saver_stop = futures_util::FutureExt::shared(Box::pin(saver_stop));
    let mut savers = Vec::new();
    for (sandbox, dir) in sandboxes {
        if let Some(dir) = dir {
            let stop = saver_stop.clone();
            savers.push(tokio::spawn(jmessage::persist::persist_loop(
                sandbox, dir, stop,
            )));
        }
    }
    let served = jmessage::serve(listener, primary, server_stop).await;
    for saver in savers {
        let _ = saver.await;
    }
    served
}

#[cfg(feature = "easemob")]
async fn run_easemob_sandbox(
    listen: String,
    app_key: String,
    data: Option<PathBuf>,
    compression: Compression,
    users: Vec<String>,
    contacts: Vec<String>,
) -> anyhow::Result<()> {
    if !app_key.contains('#') {
        anyhow::bail!("--app-key must look like ORG#APP, got {app_key:?}");
    }
    let mut cfg = SandboxConfig::new(&app_key);
    cfg.data_dir = data;
    cfg.compression = match compression {
        Compression::None => None,
        Compression::Up => Some(CompressDirection::OnlyUp),
        Compression::Down => Some(CompressDirection::OnlyDown),
        Compression::Bi => Some(CompressDirection::Bi),
    };
    let sandbox = Sandbox::open(cfg)?;
    for spec in users {
        let (name, password) = spec
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--user wants NAME:PASSWORD, got {spec:?}"))?;
        sandbox.ensure_user(name, password)?;
    }
    for group in contacts {
        let names: Vec<&str> = group.split(',').map(str::trim).collect();
        sandbox.ensure_contacts(&names)?;
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    sandbox::serve(listener, sandbox, shutdown_signal()).await
}
