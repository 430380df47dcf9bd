//! Layered configuration: built-in defaults, then an optional TOML file, then `RAPPORT_*`
//! environment variables, with nested keys split on a double underscore
//! (`RAPPORT_KAFKA__BROKERS` sets `kafka.brokers`), then files named by `RAPPORT_*_FILE`
//! variables (the container convention for secrets: `RAPPORT_CLICKHOUSE__PASSWORD_FILE=/run/secrets/ch`
//! sets `clickhouse.password` to the file's content, without its trailing newline).
//!
//! Keys that are themselves paths ([`PATH_KEYS`]: `kafka.security.ca_file`, `http.tls.cert_file`,
//! …) are the exception: `RAPPORT_CLICKHOUSE__CA_FILE=/etc/ca.pem` sets the path, like any other
//! plain variable.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The prefix of every environment variable Rapport reads.
pub const ENV_PREFIX: &str = "RAPPORT_";

/// Key names (the last segment) that hold a path to a certificate or key file. Their variables
/// end in `_FILE` because the key does, so they set the key directly instead of reading a value
/// from the file they name.
pub const PATH_KEYS: [&str; 4] = ["ca_file", "cert_file", "key_file", "linker_ca_file"];

/// Whether `key` (`kafka.security.ca_file`, or the variable form `kafka__security__ca_file`)
/// names a path key.
fn is_path_key(key: &str) -> bool {
    let last = key.rsplit(['.']).next().unwrap_or(key);
    let last = last.rsplit("__").next().unwrap_or(last);
    PATH_KEYS.iter().any(|p| last.eq_ignore_ascii_case(p))
}

/// Checks a loaded config as a whole; returns every problem, not just the first.
pub trait Validate {
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Loads `T` from its defaults, the TOML file (when given, it must exist) and the environment.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    load_from(file, Env::prefixed(ENV_PREFIX).split("__"))
}

fn load_from<T>(file: Option<&Path>, env: Env) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::MissingFile(path.display().to_string()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    // RAPPORT_CONFIG names the file itself; RAPPORT_STACK_* belong to the local stack scripts, RAPPORT_DEMO_* to `make demo`,
    // RAPPORT_TEST_* and RAPPORT_BENCH_* to the test and load harnesses. None is a config key.
    let env = env.filter(|key| {
        let key = key.as_str().to_ascii_lowercase();
        key != "config"
            && (!key.ends_with("_file") || is_path_key(&key))
            && !["stack_", "test_", "bench_", "demo_"]
                .iter()
                .any(|p| key.starts_with(p))
    });
    figment = figment.merge(env);
    for (key, path) in file_variables() {
        let value = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Parse(format!("cannot read {path} for {key}: {e}")))?;
        figment = figment.merge(Serialized::global(
            &key,
            value.trim_end_matches(['\n', '\r']),
        ));
    }
    let config: T = figment.extract().map_err(|e| {
        ConfigError::Parse(
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let problems = config.validate();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// `RAPPORT_A__B_FILE=path` variables as (`a.b`, path).
fn file_variables() -> Vec<(String, String)> {
    std::env::vars()
        .filter_map(|(name, path)| {
            let upper = name.to_ascii_uppercase();
            let key = upper.strip_prefix(ENV_PREFIX)?.strip_suffix("_FILE")?;
            if key.is_empty() || key == "CONFIG" || is_path_key(&format!("{key}_FILE")) {
                return None;
            }
            Some((key.to_ascii_lowercase().replace("__", "."), path))
        })
        .collect()
}

/// A value that must never reach logs: `Debug` and `Display` print `[redacted]`.
///
/// It deserializes from any scalar: a `RAPPORT_*` variable's value is parsed like TOML, so a
/// numeric or boolean password arrives as a number or a boolean, and a type error would quote it.
/// Such a value is read back as text, which loses what the parse lost (leading zeros, `1.50` →
/// `1.5`): set secrets through `RAPPORT_<KEY>_FILE`, which is read verbatim.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret (text)")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }

            fn visit_char<E: serde::de::Error>(self, v: char) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
// figment's Jail closures must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Demo {
        name: String,
        port: u16,
        inner: Inner,
        password: Secret,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        brokers: String,
        batch: usize,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                name: "default".into(),
                port: 1,
                inner: Inner::default(),
                password: Secret::default(),
            }
        }
    }

    impl Default for Inner {
        fn default() -> Self {
            Self {
                brokers: "localhost:9092".into(),
                batch: 10,
            }
        }
    }

    impl Validate for Demo {
        fn validate(&self) -> Vec<String> {
            let mut problems = Vec::new();
            if self.port == 0 {
                problems.push("port must not be 0".into());
            }
            if self.inner.batch == 0 {
                problems.push("inner.batch must be at least 1".into());
            }
            problems
        }
    }

    fn env() -> Env {
        Env::prefixed(ENV_PREFIX).split("__")
    }

    #[test]
    fn layers_apply_defaults_then_file_then_env() {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "name = \"file\"\nport = 2\n[inner]\nbatch = 5\n")?;
            jail.set_env("RAPPORT_PORT", "3");
            jail.set_env("RAPPORT_INNER__BROKERS", "broker:1");
            jail.set_env("RAPPORT_STACK_KAFKA_PORT", "19092");
            jail.set_env("RAPPORT_CONFIG", "r.toml");
            let cfg: Demo = load_from(Some(Path::new("r.toml")), env()).unwrap();
            assert_eq!(cfg.name, "file");
            assert_eq!(cfg.port, 3, "env overrides file");
            assert_eq!(cfg.inner.brokers, "broker:1", "nested key from env");
            assert_eq!(cfg.inner.batch, 5, "file overrides default");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", "nmae = \"typo\"\n")?;
            let err = load_from::<Demo>(Some(Path::new("r.toml")), env()).unwrap_err();
            assert!(err.to_string().contains("nmae"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn every_validation_problem_is_reported_at_once() {
        Jail::expect_with(|jail| {
            jail.set_env("RAPPORT_PORT", "0");
            jail.set_env("RAPPORT_INNER__BATCH", "0");
            let err = load_from::<Demo>(None, env()).unwrap_err().to_string();
            assert!(
                err.contains("port must not be 0") && err.contains("inner.batch"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        let err =
            load_from::<Demo>(Some(Path::new("/nonexistent/rapport.toml")), env()).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFile(_)));
    }

    #[test]
    fn a_file_variable_sets_its_key_from_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file("password", "from-a-file\n")?;
            jail.create_file("brokers", "broker:9")?;
            jail.set_env("RAPPORT_PASSWORD_FILE", "password");
            jail.set_env("RAPPORT_INNER__BROKERS_FILE", "brokers");
            let cfg: Demo = load_from(None, env()).unwrap();
            assert_eq!(cfg.password.expose(), "from-a-file");
            assert_eq!(cfg.inner.brokers, "broker:9");
            jail.set_env("RAPPORT_PASSWORD_FILE", "missing");
            let err = load_from::<Demo>(None, env()).unwrap_err().to_string();
            assert!(err.contains("cannot read missing for password"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_path_key_is_set_by_its_variable_not_read_from_the_file() {
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct Tls {
            ca_file: Option<String>,
            key_password: Secret,
        }
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct WithPaths {
            tls: Tls,
        }
        impl Validate for WithPaths {}
        Jail::expect_with(|jail| {
            jail.create_file("key-password", "s3cret\n")?;
            jail.set_env("RAPPORT_TLS__CA_FILE", "/etc/rapport/ca.pem");
            jail.set_env("RAPPORT_TLS__KEY_PASSWORD_FILE", "key-password");
            let cfg: WithPaths = load_from(None, env()).unwrap();
            assert_eq!(cfg.tls.ca_file.as_deref(), Some("/etc/rapport/ca.pem"));
            assert_eq!(cfg.tls.key_password.expose(), "s3cret");
            Ok(())
        });
        assert!(is_path_key("kafka.security.cert_file") && is_path_key("http__tls__key_file"));
        assert!(!is_path_key("api_key_file") && !is_path_key("clickhouse.password"));
    }

    #[test]
    fn a_numeric_secret_from_a_variable_is_read_as_text_and_never_quoted() {
        Jail::expect_with(|jail| {
            jail.set_env("RAPPORT_PASSWORD", "987654321");
            let cfg: Demo = load_from(None, env()).unwrap();
            assert_eq!(cfg.password.expose(), "987654321");
            jail.set_env("RAPPORT_PASSWORD", "true");
            let cfg: Demo = load_from(None, env()).unwrap();
            assert_eq!(cfg.password.expose(), "true");
            // A secret of the wrong shape is refused without being quoted.
            jail.set_env("RAPPORT_PASSWORD", "[5551234, 42]");
            let err = load_from::<Demo>(None, env()).unwrap_err().to_string();
            assert!(!err.contains("5551234"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        Jail::expect_with(|jail| {
            jail.set_env("RAPPORT_PASSWORD", "hunter2");
            let cfg: Demo = load_from(None, env()).unwrap();
            assert_eq!(cfg.password.expose(), "hunter2");
            let printed = format!("{cfg:?} {}", cfg.password);
            assert!(!printed.contains("hunter2"), "{printed}");
            Ok(())
        });
    }
}
