//! Tenant files: a [`TenantState`] stored as YAML (`.yaml`/`.yml`, serde-saphyr) or JSON
//! (`.json`), chosen by extension.
//!
//! Reading deserializes straight into the state (no intermediate tree of the whole
//! file). Tenant files are trusted local files, so serde-saphyr's parse budget (which
//! refuses a 10,000-user file) is off; only its limit on YAML alias expansion remains.
//! A malformed file is refused with its path, line and column: duplicate user ids,
//! connection names, connection ids or client ids, a `domain` that is not a string,
//! unknown keys, wrong types. Messages are verifyctl's own, never a parser's advice.
//!
//! Writing streams the state into a temporary file in the same directory, which then
//! replaces the old file by rename (atomic), and never holds the emulator's lock. What
//! a round trip keeps and loses: every key of users, identities, connections and
//! clients is kept; keys inside objects (`options`, metadata) come back in sorted order;
//! YAML comments, anchors and quoting style are lost.

use std::borrow::Cow;

use serde_saphyr::MessageFormatter;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::state::TenantState;

/// What went wrong with which tenant file.
#[derive(Debug, thiserror::Error)]
pub enum TenantFileError {
    #[error("tenant file {}: the name must end in .json, .yaml or .yml", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("cannot read tenant file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write tenant file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Invalid YAML or YAML that does not describe a tenant; `message` names the file,
    /// line and column and shows the offending line.
    #[error("invalid tenant file {}: {message}", path.display())]
    Yaml {
        path: PathBuf,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    #[error("invalid tenant file {}:{line}:{column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("cannot serialize the tenant for {}: {message}", path.display())]
    Serialize { path: PathBuf, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn format_of(path: &Path) -> Result<Format, TenantFileError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => Ok(Format::Json),
        Some("yaml" | "yml") => Ok(Format::Yaml),
        _ => Err(TenantFileError::UnknownFormat {
            path: path.to_owned(),
        }),
    }
}

/// Reads a tenant file (`.json` as JSON, `.yaml`/`.yml` as YAML).
pub fn load_tenant_file(path: &Path) -> Result<TenantState, TenantFileError> {
    let format = format_of(path)?;
    let read_error = |source| TenantFileError::Read {
        path: path.to_owned(),
        source,
    };
    match format {
        Format::Json => {
            let bytes = std::fs::read(path).map_err(read_error)?;
            serde_json::from_slice(&bytes).map_err(|e| json_error(path, &e))
        }
        Format::Yaml => {
            let text = std::fs::read_to_string(path).map_err(read_error)?;
            let options = serde_saphyr::options! { budget: None };
            serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
                locate_tenant_check(&text, path, &e).unwrap_or_else(|| yaml_error(path, &e))
            })
        }
    }
}

fn json_error(path: &Path, error: &serde_json::Error) -> TenantFileError {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the error names the place itself.
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    TenantFileError::Json {
        path: path.to_owned(),
        line: error.line(),
        column: error.column(),
        message,
    }
}

fn yaml_error(path: &Path, error: &serde_saphyr::Error) -> TenantFileError {
    let name = path.display().to_string();
    let location = error.location();
    TenantFileError::Yaml {
        path: path.to_owned(),
        line: location.map(|l| l.line()),
        column: location.map(|l| l.column()),
        message: error.render_with_options(serde_saphyr::render_options! {
            source_name: Some(name.as_str()),
            formatter: &TenantFileMessages,
        }),
    }
}

/// The tenant checks made while reading (see `state.rs`) fail where the parser is when
/// the list ends, not at the offending entry. For YAML, a second, light pass over the
/// text finds that entry's line and column (only on this error path).
fn locate_tenant_check(
    text: &str,
    path: &Path,
    error: &serde_saphyr::Error,
) -> Option<TenantFileError> {
    use serde::Deserialize;
    use serde::de::IgnoredAny;
    use serde_saphyr::Spanned;

    #[derive(Deserialize)]
    struct Located {
        #[serde(default)]
        domain: Option<Spanned<IgnoredAny>>,
        #[serde(default)]
        users: Vec<Keyed<UserKeys>>,
        #[serde(default)]
        connections: Vec<Keyed<ConnectionKeys>>,
        #[serde(default)]
        clients: Vec<Keyed<ClientKeys>>,
    }
    type Keyed<T> = Spanned<T>;
    #[derive(Deserialize)]
    struct UserKeys {
        #[serde(default)]
        user_id: Option<Spanned<String>>,
    }
    #[derive(Deserialize)]
    struct ConnectionKeys {
        #[serde(default)]
        name: Option<Spanned<String>>,
        #[serde(default)]
        id: Option<Spanned<String>>,
    }
    #[derive(Deserialize)]
    struct ClientKeys {
        #[serde(default)]
        client_id: Option<Spanned<String>>,
    }

    let rendered = serde_saphyr::UserMessageFormatter.format_message(error);
    let ours = ["must be unique", "the tenant's domain as a string"];
    if !ours.iter().any(|marker| rendered.contains(marker)) {
        return None;
    }
    let options = serde_saphyr::options! { budget: None };
    let located: Located = serde_saphyr::from_str_with_options(text, options).ok()?;
    let mut problems: Vec<(u64, u64, String)> = Vec::new();
    if let Some(domain) = &located.domain
        && rendered.contains("the tenant's domain as a string")
    {
        problems.push((
            domain.referenced.line(),
            domain.referenced.column(),
            "`domain` must be a string such as acme.eu.auth0.com (quote it if it looks \
             like a number or a boolean)"
                .to_owned(),
        ));
    }
    let mut check = |what: &str, field: &str, values: Vec<&Spanned<String>>| {
        let mut seen: std::collections::HashMap<&str, &Spanned<String>> = Default::default();
        for value in values {
            if value.value.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(value.value.as_str(), value) {
                problems.push((
                    value.referenced.line(),
                    value.referenced.column(),
                    format!(
                        "two {what} have the {field} {:?} (the other at line {}); each must \
                         be unique",
                        value.value,
                        first.referenced.line()
                    ),
                ));
                return;
            }
        }
    };
    check(
        "users",
        "user_id",
        located
            .users
            .iter()
            .filter_map(|u| u.value.user_id.as_ref())
            .collect(),
    );
    check(
        "connections",
        "name",
        located
            .connections
            .iter()
            .filter_map(|c| c.value.name.as_ref())
            .collect(),
    );
    check(
        "connections",
        "id",
        located
            .connections
            .iter()
            .filter_map(|c| c.value.id.as_ref())
            .collect(),
    );
    check(
        "clients",
        "client_id",
        located
            .clients
            .iter()
            .filter_map(|c| c.value.client_id.as_ref())
            .collect(),
    );
    let (line, column, message) = problems.into_iter().min()?;
    Some(TenantFileError::Yaml {
        path: path.to_owned(),
        line: Some(line),
        column: Some(column),
        message: format!("{}:{line}:{column}: {message}", path.display()),
    })
}

/// serde-saphyr's user-facing messages, except where they would talk about the library
/// (its options, budgets or APIs) instead of the tenant file.
struct TenantFileMessages;

impl MessageFormatter for TenantFileMessages {
    fn format_message<'a>(&self, error: &'a serde_saphyr::Error) -> Cow<'a, str> {
        use serde_saphyr::Error;
        match error {
            Error::Budget { .. } => Cow::Borrowed(
                "the file is too large or too deeply nested for verifyctl to read; \
                 split the tenant into fewer, flatter records",
            ),
            Error::AliasReplayLimitExceeded { .. }
            | Error::AliasExpansionLimitExceeded { .. }
            | Error::AliasReplayStackDepthExceeded { .. }
            | Error::AliasReplayCounterOverflow { .. } => Cow::Borrowed(
                "YAML aliases (*name) in this file expand to more data than verifyctl \
                 reads; write the repeated values out instead of aliasing them",
            ),
            Error::DuplicateMappingKey { key: Some(key), .. } => Cow::Owned(format!(
                "the key `{key}` appears twice in the same mapping; keep one"
            )),
            Error::DuplicateMappingKey { key: None, .. } => {
                Cow::Borrowed("a key appears twice in the same mapping; keep one")
            }
            Error::MultipleDocuments { .. } => Cow::Borrowed(
                "a tenant file holds one YAML document; remove the `---` separators \
                 after the first document",
            ),
            _ => serde_saphyr::UserMessageFormatter.format_message(error),
        }
    }
}

/// Writes a tenant file in the format its extension names, atomically (temporary file
/// in the same directory, then rename), streaming the serialization into the file.
pub fn save_tenant_file(path: &Path, state: &TenantState) -> Result<(), TenantFileError> {
    let format = format_of(path)?;
    let write_error = |source: std::io::Error| TenantFileError::Write {
        path: path.to_owned(),
        source,
    };
    let serialize_error = |message: String| TenantFileError::Serialize {
        path: path.to_owned(),
        message,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temporary = tempfile::NamedTempFile::new_in(directory).map_err(write_error)?;
    let mut writer = BufWriter::with_capacity(1 << 20, temporary);
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut writer, state).map_err(|e| {
                match e.io_error_kind() {
                    Some(_) => write_error(std::io::Error::other(e.to_string())),
                    None => serialize_error(e.to_string()),
                }
            })?;
            writer.write_all(b"\n").map_err(write_error)?;
        }
        Format::Yaml => serde_saphyr::to_io_writer(&mut writer, state)
            .map_err(|e| serialize_error(e.to_string()))?,
    }
    let temporary = writer
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    temporary.as_file().sync_all().map_err(write_error)?;
    temporary.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}
