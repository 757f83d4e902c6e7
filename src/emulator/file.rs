//! Tenant files: a [`TenantState`] stored as YAML (`.yaml`/`.yml`, serde-saphyr) or JSON
//! (`.json`), chosen by extension. Saving is atomic: the new content goes to a temporary
//! file in the same directory, which then replaces the old file by rename.

use std::io::Write;
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
    /// Invalid YAML or YAML that does not describe a tenant; `message` is serde-saphyr's
    /// rendering, which names the file, line and column and shows the offending line.
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
    let text = std::fs::read_to_string(path).map_err(|source| TenantFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    match format {
        Format::Json => serde_json::from_str(&text).map_err(|e| TenantFileError::Json {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
        Format::Yaml => serde_saphyr::from_str(&text).map_err(|e| {
            let name = path.display().to_string();
            TenantFileError::Yaml {
                path: path.to_owned(),
                line: e.location().map(|l| l.line()),
                column: e.location().map(|l| l.column()),
                message: e.render_with_options(serde_saphyr::render_options! {
                    source_name: Some(name.as_str()),
                }),
            }
        }),
    }
}

/// Writes a tenant file in the format its extension names, atomically
/// (temporary file in the same directory, then `persist` = rename).
pub fn save_tenant_file(path: &Path, state: &TenantState) -> Result<(), TenantFileError> {
    let format = format_of(path)?;
    let serialize_error = |message: String| TenantFileError::Serialize {
        path: path.to_owned(),
        message,
    };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(state)
            .map(|text| text + "\n")
            .map_err(|e| serialize_error(e.to_string()))?,
        Format::Yaml => {
            serde_saphyr::to_string(state).map_err(|e| serialize_error(e.to_string()))?
        }
    };
    let write_error = |source: std::io::Error| TenantFileError::Write {
        path: path.to_owned(),
        source,
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(write_error)?;
    temporary.write_all(text.as_bytes()).map_err(write_error)?;
    temporary.as_file().sync_all().map_err(write_error)?;
    temporary.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}
