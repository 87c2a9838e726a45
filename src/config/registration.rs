//! The appservice registration file the homeserver loads (`app_service_config_files` in
//! Synapse), generated from the config with fresh random tokens, written with mode 0600
//! (atomically: a new 0600 file renamed over the old one, so it is never readable by others,
//! not even briefly), and read back by the config loader, which takes the tokens from it when
//! `appservice.registration` names it.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ids::regex_escape;
use super::{Config, Secret, TokenSource, ID_PLACEHOLDER};

/// An appservice registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: String,
    /// Where the homeserver pushes transactions (`None`: it pushes nothing).
    pub url: Option<String>,
    pub as_token: Secret,
    pub hs_token: Secret,
    /// The localpart of the registration's own user (random; the bot is a separate user in
    /// the exclusive namespace).
    pub sender_localpart: String,
    pub rate_limited: bool,
    pub namespaces: Namespaces,
    /// `receive_ephemeral` (MSC2409, stable).
    pub receive_ephemeral: bool,
    /// `de.sorunome.msc2409.push_ephemeral` (MSC2409, the older key some servers still read).
    pub push_ephemeral: bool,
}

/// Namespaces claimed by the appservice.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Namespaces {
    #[serde(default)]
    pub users: Vec<Namespace>,
    #[serde(default)]
    pub aliases: Vec<Namespace>,
    #[serde(default)]
    pub rooms: Vec<Namespace>,
}

/// One namespace: a regular expression over ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: String,
}

/// Failure to read or write a registration file.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid registration file: {message}")]
    Parse { path: PathBuf, message: String },
}

impl RegistrationError {
    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistrationError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    fn io(path: &Path, source: std::io::Error) -> Self {
        RegistrationError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The file's shape.
#[derive(Serialize, Deserialize)]
struct RegFile {
    id: String,
    url: Option<String>,
    as_token: String,
    hs_token: String,
    sender_localpart: String,
    #[serde(default)]
    rate_limited: Option<bool>,
    #[serde(default)]
    namespaces: Namespaces,
    #[serde(default)]
    receive_ephemeral: Option<bool>,
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral", default)]
    push_ephemeral: Option<bool>,
}

/// A random token of 64 letters and digits.
fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 64)
}

/// A random lower-case localpart of 32 characters.
fn random_localpart() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

impl Registration {
    /// A new registration for `config`: random 64-character tokens, a random
    /// `sender_localpart`, exclusive user namespaces for the bot and the username template,
    /// `rate_limited: false`, and both ephemeral keys set from `appservice.ephemeral_events`.
    pub fn generate(config: &Config) -> Registration {
        let domain = regex_escape(&config.homeserver.domain);
        let template = &config.appservice.username_template;
        let (prefix, suffix) = template
            .split_once(ID_PLACEHOLDER)
            .unwrap_or((template.as_str(), ""));
        let bot = format!(
            "^@{}:{domain}$",
            regex_escape(&config.appservice.bot.username)
        );
        let ghosts = format!(
            "^@{}.*{}:{domain}$",
            regex_escape(prefix),
            regex_escape(suffix)
        );
        let ephemeral = config.appservice.ephemeral_events;
        Registration {
            id: config.appservice.id.clone(),
            url: Some(config.appservice.address.clone()),
            as_token: Secret::new(random_token()),
            hs_token: Secret::new(random_token()),
            sender_localpart: random_localpart(),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![
                    Namespace {
                        exclusive: true,
                        regex: bot,
                    },
                    Namespace {
                        exclusive: true,
                        regex: ghosts,
                    },
                ],
                aliases: Vec::new(),
                rooms: Vec::new(),
            },
            receive_ephemeral: ephemeral,
            push_ephemeral: ephemeral,
        }
    }

    /// The second registration for double puppeting with the appservice method (mautrix's
    /// shape): `id` `{appservice.id}-doublepuppet`, `url: null` (the homeserver pushes it
    /// nothing), random tokens and `sender_localpart`, one non-exclusive user namespace
    /// `@.*:domain`, `rate_limited: false`, no ephemeral events. Its `as_token` goes into
    /// `double_puppet.secrets` as `as_token:TOKEN`.
    pub fn generate_double_puppet(config: &Config) -> Registration {
        let domain = regex_escape(&config.homeserver.domain);
        Registration {
            id: format!("{}-doublepuppet", config.appservice.id),
            url: None,
            as_token: Secret::new(random_token()),
            hs_token: Secret::new(random_token()),
            sender_localpart: random_localpart(),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![Namespace {
                    exclusive: false,
                    regex: format!("@.*:{domain}"),
                }],
                aliases: Vec::new(),
                rooms: Vec::new(),
            },
            receive_ephemeral: false,
            push_ephemeral: false,
        }
    }

    /// The registration as YAML (holds the tokens: write it only to a 0600 file).
    pub fn to_yaml(&self) -> Result<String, RegistrationError> {
        let file = RegFile {
            id: self.id.clone(),
            url: self.url.clone(),
            as_token: self.as_token.expose().to_owned(),
            hs_token: self.hs_token.expose().to_owned(),
            sender_localpart: self.sender_localpart.clone(),
            rate_limited: Some(self.rate_limited),
            namespaces: self.namespaces.clone(),
            receive_ephemeral: Some(self.receive_ephemeral),
            push_ephemeral: Some(self.push_ephemeral),
        };
        serde_saphyr::to_string(&file).map_err(|e| RegistrationError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })
    }

    /// Parses registration YAML.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Registration, RegistrationError> {
        let file: RegFile = serde_saphyr::from_str(text).map_err(|e| {
            let mut message = e.to_string();
            if let Some(first) = message.lines().next() {
                message = first.to_owned();
            }
            RegistrationError::Parse {
                path: path.to_path_buf(),
                message,
            }
        })?;
        if file.as_token.trim().is_empty() || file.hs_token.trim().is_empty() {
            return Err(RegistrationError::Parse {
                path: path.to_path_buf(),
                message: "as_token and hs_token must not be empty".into(),
            });
        }
        Ok(Registration {
            id: file.id,
            url: file.url,
            as_token: Secret::new(file.as_token.trim()),
            hs_token: Secret::new(file.hs_token.trim()),
            sender_localpart: file.sender_localpart,
            rate_limited: file.rate_limited.unwrap_or(true),
            namespaces: file.namespaces,
            receive_ephemeral: file.receive_ephemeral.unwrap_or(false),
            push_ephemeral: file.push_ephemeral.unwrap_or(false),
        })
    }

    /// Reads a registration file.
    pub fn load(path: &Path) -> Result<Registration, RegistrationError> {
        let text = std::fs::read_to_string(path).map_err(|e| RegistrationError::io(path, e))?;
        Self::from_yaml(&text, path)
    }

    /// Writes the registration to `path` with mode 0600: into a new 0600 file next to it,
    /// flushed to disk, then renamed over `path` (so a crash leaves the old file or the new
    /// one, and the tokens are never in a file others can read).
    pub fn write(&self, path: &Path) -> Result<(), RegistrationError> {
        use std::os::unix::fs::OpenOptionsExt;
        let yaml = self.to_yaml()?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "registration.yaml".into());
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            Alphanumeric.sample_string(&mut rand::rng(), 8)
        ));
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(b"# Appservice registration for imbridge: give this file to the homeserver\n# (Synapse: app_service_config_files). It holds secrets: keep it mode 0600.\n")?;
            file.write_all(yaml.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            RegistrationError::io(path, e)
        })
    }
}

/// What [`generate_registration`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRegistration {
    /// The file written.
    pub path: PathBuf,
    /// The registration (tokens redacted in `Debug`).
    pub registration: Registration,
    /// Things the user must fix for the bridge to use these tokens (print them).
    pub notes: Vec<String>,
}

/// The `generate-registration` command: generates a registration for `config` and writes it
/// (mode 0600) to `out`, or else to `appservice.registration`, or else to `registration.yaml`
/// next to the config file. `notes` says when the config would not pick the new tokens up:
/// `appservice.registration` naming another file, or tokens set in the environment, a token
/// file or the config overriding the registration's.
pub fn generate_registration(
    config: &Config,
    out: Option<&Path>,
) -> Result<GeneratedRegistration, RegistrationError> {
    let configured = config.appservice.registration.clone();
    let path = match (out, &configured) {
        (Some(out), _) => out.to_path_buf(),
        (None, Some(configured)) => configured.clone(),
        (None, None) => config.base_dir().join("registration.yaml"),
    };
    let registration = Registration::generate(config);
    registration.write(&path)?;
    let mut notes = Vec::new();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    match &configured {
        Some(c) if same(c, &path) => {}
        Some(c) => notes.push(format!(
            "{} names {} as appservice.registration, not {}: point it at the new file, or the \
             bridge keeps using the old tokens",
            config.source(),
            c.display(),
            path.display()
        )),
        None => notes.push(format!(
            "set `appservice.registration: {}` in {} so the bridge reads the new tokens",
            path.display(),
            config.source()
        )),
    }
    for (name, source) in [
        ("as_token", &config.appservice.as_token_source),
        ("hs_token", &config.appservice.hs_token_source),
    ] {
        if matches!(
            source,
            TokenSource::Env(_) | TokenSource::File(_) | TokenSource::Inline
        ) {
            notes.push(format!(
                "{name} is also set in the {source}, which takes precedence over the \
                 registration file: remove it, or the homeserver will refuse the bridge"
            ));
        }
    }
    Ok(GeneratedRegistration {
        path,
        registration,
        notes,
    })
}

/// `generate-registration --double-puppet`: writes the double puppeting registration
/// ([`Registration::generate_double_puppet`], mode 0600) to `out`, or else to
/// `doublepuppet-registration.yaml` next to the config file. The notes say where its
/// `as_token` goes; the token itself is not printed.
pub fn generate_double_puppet_registration(
    config: &Config,
    out: Option<&Path>,
) -> Result<GeneratedRegistration, RegistrationError> {
    let path = match out {
        Some(out) => out.to_path_buf(),
        None => config.base_dir().join("doublepuppet-registration.yaml"),
    };
    let registration = Registration::generate_double_puppet(config);
    registration.write(&path)?;
    let notes = vec![
        format!(
            "add {} to the homeserver's app_service_config_files (Synapse) and restart it",
            path.display()
        ),
        format!(
            "in {}, set double_puppet.secrets.{} to \"as_token:\" followed by the as_token \
             written in {}",
            config.source(),
            config.homeserver.domain,
            path.display()
        ),
    ];
    Ok(GeneratedRegistration {
        path,
        registration,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_parts_have_the_right_shape() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        let l = random_localpart();
        assert_eq!(l.len(), 32);
        assert!(super::super::is_valid_localpart(&l));
    }
}
