//! Finding and reading the policy files of a directory. Every entry that looks like a policy
//! file and cannot be read is a diagnostic, never silently skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Diagnostic, Diagnostics, Origin, PolicySource};

/// The policy files of `dir` (sorted by path) and the problems reading them. Fails at once
/// when the directory itself cannot be read or holds no policy file.
pub(super) fn read_dir(dir: &Path) -> Result<(Vec<PolicySource>, Vec<Diagnostic>), Diagnostics> {
    let dir_name: Arc<str> = Arc::from(dir.display().to_string());
    let mut diagnostics = Diagnostics::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(format!("cannot read the policy directory: {error}"), Origin::file(&dir_name))
                    .with_hint("pass the directory holding your policy YAML files, e.g. `verifyctl plan policies/`"),
            );
            return Err(diagnostics);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                "no policy files (*.yaml, *.yml) in this directory",
                Origin::file(&dir_name),
            )
            .with_hint(
                "create one, e.g. policies/connections.yaml; `verifyctl schema` prints the format",
            ),
        );
        return Err(diagnostics);
    }
    let mut sources = Vec::new();
    for path in paths {
        let file: Arc<str> = Arc::from(path.display().to_string());
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(PolicySource {
                file,
                text: Arc::from(text),
            }),
            Err(error) => diagnostics.push(Diagnostic::new(
                format!("cannot read the file: {error}"),
                Origin::file(&file),
            )),
        }
    }
    Ok((sources, diagnostics.items))
}
