//! A config file as a [`Document`]: TOML text with `${VAR}` interpolated, from which each
//! part of a program takes the sections it owns.
//!
//! The pool owns `[[endpoint]]`, `[default]`, `[method.*]`, `[health]`, `[hedge]`,
//! `[breaker]`, `[cache]` and `limits.max_response_bytes`; the gateway owns `listen`,
//! `[gateway]` and the client-side `[limits]`; a program embedding the pool may add its
//! own. Each part deserializes its sections with `deny_unknown_fields`, and
//! [`Document::finish`] rejects whatever top-level key nobody took — so a typo anywhere in
//! the file is an error, while no part needs to know another's settings.
//!
//! Interpolation: `${VAR}` in any string value is replaced by the variable's value (`$$`
//! is a literal `$`); a missing variable is an error naming the variable and the key, never
//! the value around it (values are usually URLs with keys in them).

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// An interpolated TOML document whose sections are taken one by one. See the module doc.
#[derive(Debug, Clone)]
pub struct Document {
    table: toml::Table,
}

impl Document {
    /// Reads a file and interpolates `${VAR}` from the process environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Document, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Document::parse(&text, |var| std::env::var(var).ok())
    }

    /// Parses TOML text, replacing `${VAR}` in string values with `env(VAR)`.
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Document, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_string()))?;
        let mut path = String::new();
        for (key, v) in table.iter_mut() {
            path.clear();
            path.push_str(key);
            interpolate(v, &mut path, &env)?;
        }
        Ok(Document { table })
    }

    /// Takes the top-level key `key` and deserializes it (its type's `Default` when the
    /// file does not have it).
    pub fn take<T: DeserializeOwned + Default>(&mut self, key: &str) -> Result<T, ConfigError> {
        match self.table.remove(key) {
            None => Ok(T::default()),
            Some(value) => value.try_into().map_err(|e: toml::de::Error| {
                ConfigError::Parse(format!("{key}: {}", e.message()))
            }),
        }
    }

    /// Takes the keys `keys` out of the table `table` (leaving the rest of it for another
    /// part of the program) and deserializes them as one table.
    pub fn take_from<T: DeserializeOwned + Default>(
        &mut self,
        table: &str,
        keys: &[&str],
    ) -> Result<T, ConfigError> {
        let mut taken = toml::Table::new();
        match self.table.get_mut(table) {
            None => return Ok(T::default()),
            Some(toml::Value::Table(t)) => {
                for key in keys {
                    if let Some(v) = t.remove(*key) {
                        taken.insert((*key).to_string(), v);
                    }
                }
                if t.is_empty() {
                    self.table.remove(table);
                }
            }
            Some(_) => return Err(ConfigError::Parse(format!("{table}: expected a table"))),
        }
        toml::Value::Table(taken)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(format!("{table}: {}", e.message())))
    }

    /// Ends reading: any top-level key no part of the program took is an error.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.table.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = self.table.keys().map(String::as_str).collect();
        Err(ConfigError::Parse(format!(
            "unknown key{} `{}`",
            if keys.len() > 1 { "s" } else { "" },
            keys.join("`, `")
        )))
    }
}

/// Replaces `${VAR}` in every string inside `v`. `path` is the dotted key path, for errors.
fn interpolate(
    v: &mut toml::Value,
    path: &mut String,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match v {
        toml::Value::String(s) if s.contains('$') => *s = interpolate_str(s, path, env)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, env)?;
                path.truncate(len);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                interpolate(item, path, env)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn interpolate_str(
    s: &str,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err(ConfigError::Parse(format!(
                    "unclosed ${{ in the value at `{path}`"
                )));
            };
            let var = &tail[..end];
            let value = env(var).ok_or_else(|| ConfigError::MissingEnv {
                var: var.to_string(),
                at: path.to_string(),
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "KEY").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn dollar_escapes_and_plain_dollars_survive() {
        assert_eq!(interpolate_str("a$$b$c", "x", &env).unwrap(), "a$b$c");
        assert_eq!(interpolate_str("k=${KEY}", "x", &env).unwrap(), "k=s3cr3t");
        assert!(interpolate_str("${KEY", "x", &env).is_err());
    }

    #[test]
    fn sections_are_taken_by_their_owners_and_leftovers_are_errors() {
        #[derive(serde::Deserialize, Default, Debug, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        struct Mine {
            a: u64,
        }
        let mut doc = Document::parse(
            "[mine]\na = 3\n[limits]\nx = 1\ny = 2\n[typo]\nz = 1\n",
            env,
        )
        .unwrap();
        assert_eq!(doc.take::<Mine>("mine").unwrap(), Mine { a: 3 });
        assert_eq!(doc.take::<Mine>("absent").unwrap(), Mine::default());
        let x: toml::Table = doc.take_from("limits", &["x"]).unwrap();
        assert_eq!(x.get("x").and_then(toml::Value::as_integer), Some(1));
        let y: toml::Table = doc.take("limits").unwrap();
        assert_eq!(y.len(), 1, "the other part gets what is left");
        let err = doc.finish().unwrap_err().to_string();
        assert!(err.contains("typo"), "{err}");
    }
}
