//! Secrets: where the config says they are, and a type that never prints them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret's bytes. `Debug` prints `***`; there is no `Display`.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// The bytes, for computing a MAC or parsing a key. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time equality with a presented value. Both sides are hashed first, so neither
    /// the comparison's time nor an early length mismatch tells an attacker how much was right.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let ours = Sha256::digest(&self.0);
        let theirs = Sha256::digest(presented);
        ours.ct_eq(&theirs).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where one secret comes from, written in TOML as a table with exactly one key:
/// `{ value = "…" }`, `{ env = "VAR" }` or `{ file = "/run/secrets/…" }`.
///
/// Files are read whole (at most [`MAX_SECRET_FILE_BYTES`]) with one trailing newline removed,
/// as `echo secret > file` writes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// The secret itself, in the config. Convenient for tests; prefer `env` or `file`.
    Value(String),
    /// The name of an environment variable holding the secret.
    Env(String),
    /// A file holding the secret (a mounted Kubernetes or Docker secret).
    File(PathBuf),
}

/// The largest secret file read; a key, a PEM certificate or a JWKS document fits easily.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value(***)"),
            SecretSource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Reads environment variables. The service passes [`ProcessEnv`]; tests pass a map, because
/// changing the process environment is `unsafe` in Rust 2024.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Environment for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl SecretSource {
    /// Loads the secret. The error names the variable or file, never the value.
    pub fn load(&self, env: &dyn Environment) -> Result<Secret, String> {
        let bytes = match self {
            SecretSource::Value(value) => value.clone().into_bytes(),
            SecretSource::Env(name) => env
                .var(name)
                .ok_or_else(|| format!("environment variable {name} is not set"))?
                .into_bytes(),
            SecretSource::File(path) => read_secret_file(path)?,
        };
        if bytes.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Secret::new(bytes))
    }
}

fn read_secret_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open secret file {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "secret file {} is over {MAX_SECRET_FILE_BYTES} bytes",
            path.display()
        ));
    }
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        let source = SecretSource::Value("hunter2".into());
        let printed = format!("{secret:?} {source:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(format!("{secret:?}"), "***");
    }

    #[test]
    fn loads_from_value_env_and_file_without_the_trailing_newline() {
        let dir =
            std::env::temp_dir().join(format!("rapport-gateway-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        std::fs::write(&path, "from-file\n").unwrap();
        let env: HashMap<String, String> = [("ZD".to_string(), "from-env".to_string())].into();

        let load = |s: SecretSource| s.load(&env).unwrap().expose().to_vec();
        assert_eq!(load(SecretSource::Value("v".into())), b"v");
        assert_eq!(load(SecretSource::Env("ZD".into())), b"from-env");
        assert_eq!(load(SecretSource::File(path)), b"from-file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_source_names_itself_not_a_value() {
        let env: HashMap<String, String> = HashMap::new();
        let err = SecretSource::Env("NOPE".into()).load(&env).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
        let err = SecretSource::File("/nonexistent/secret".into())
            .load(&env)
            .unwrap_err();
        assert!(err.contains("/nonexistent/secret"), "{err}");
        assert!(SecretSource::Value(String::new()).load(&env).is_err());
    }

    #[test]
    fn matching_is_exact() {
        let s = Secret::new("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abcd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn a_source_is_a_table_with_one_known_key() {
        #[derive(Deserialize)]
        struct W {
            s: SecretSource,
        }
        let w: W = toml::from_str("s = { env = \"X\" }").unwrap();
        assert_eq!(w.s, SecretSource::Env("X".into()));
        assert!(toml::from_str::<W>("s = { envv = \"X\" }").is_err());
    }
}
