//! Finding and reading the policy files of a directory and its subfolders (recursively,
//! hidden folders skipped, in path order). Every entry that looks like a policy
//! file (`*.yaml`, `*.yml`, not starting with `.`) and cannot be read is a diagnostic, never
//! silently skipped: a dangling or looping symbolic link, a directory, a FIFO, a device, a file
//! over [`MAX_FILE_BYTES`], a file that is not UTF-8. The file type is checked before the file
//! is opened, so a FIFO or a device is refused without ever blocking on it.

use std::collections::BTreeSet;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::yaml::Loc;
use super::{Diagnostic, Diagnostics, Origin, PolicySource};

/// The largest policy file read: 32 MiB, about 300,000 users with full profiles. Larger files
/// are refused with a hint to split them, rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The policy files of `dir` and its subfolders (sorted by path) and the problems reading them. Fails at once
/// when the directory itself cannot be read or holds no policy file.
pub(super) fn read_dir(dir: &Path) -> Result<(Vec<PolicySource>, Diagnostics), Diagnostics> {
    let dir_name: Arc<str> = Arc::from(dir.display().to_string());
    let mut diagnostics = Diagnostics::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(
                    format!("cannot read the policy directory: {}", describe(&error)),
                    Origin::file(&dir_name),
                )
                .with_hint(
                    "pass the directory holding your policy YAML files, e.g. `verifyctl plan policies/`",
                ),
            );
            return Err(diagnostics);
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut visited = BTreeSet::new();
    if let Ok(real) = fs::canonicalize(dir) {
        visited.insert(real);
    }
    collect(dir, entries, &mut paths, &mut visited, &mut diagnostics);
    paths.sort();
    if paths.is_empty() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::new(
                "no policy files (*.yaml, *.yml) in this directory or its folders",
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
        match read_policy_file(&path).and_then(|bytes| decode(&bytes)) {
            Ok(text) => sources.push(PolicySource {
                file,
                text: Arc::from(text),
            }),
            Err(problem) => {
                if let Some(text) = problem.source {
                    diagnostics.add_source(&file, &text);
                }
                diagnostics.push(problem.problem.into_diagnostic(&file));
            }
        }
    }
    Ok((sources, diagnostics))
}

/// Adds the policy files of one directory's `entries` to `paths`, and those of its
/// subdirectories, recursively. Hidden entries (names starting with `.`: `.git`, editors'
/// backup folders) are skipped, folders and files alike. A directory whose name looks like a
/// policy file (`users.yaml/`, which a container volume mount of a missing file creates) is
/// not descended into: `read_dir`'s caller refuses it as "not a regular file". Directories
/// reached twice through symbolic links are read once.
fn collect(
    dir: &Path,
    entries: fs::ReadDir,
    paths: &mut Vec<PathBuf>,
    visited: &mut BTreeSet<PathBuf>,
    diagnostics: &mut Diagnostics,
) {
    let dir_name: Arc<str> = Arc::from(dir.display().to_string());
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                diagnostics.push(Diagnostic::new(
                    format!(
                        "cannot list the policy directory's entries: {}",
                        describe(&error)
                    ),
                    Origin::file(&dir_name),
                ));
                continue;
            }
        };
        let path = entry.path();
        if looks_like_a_policy_file(&path) {
            paths.push(path);
            continue;
        }
        if is_hidden(&path) || !fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        // A folder reached again through a symbolic link (or a link loop) is read once.
        if let Ok(real) = fs::canonicalize(&path)
            && !visited.insert(real)
        {
            continue;
        }
        match fs::read_dir(&path) {
            Ok(inner) => collect(&path, inner, paths, visited, diagnostics),
            Err(error) => diagnostics.push(
                Diagnostic::new(
                    format!("cannot read this folder of the policy directory: {}", describe(&error)),
                    Origin::file(&Arc::from(path.display().to_string())),
                )
                .with_hint("make it readable by the user running verifyctl, or move it out of the policy directory"),
            ),
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."))
}

/// Reads a user list file (`users_file`) with the same checks as a policy file: a regular
/// file, at most [`MAX_FILE_BYTES`], UTF-8.
pub(super) fn read_list_file(path: &Path) -> Result<String, super::lists::ReadError> {
    use super::lists::ReadError;
    if fs::symlink_metadata(path).is_err() {
        return Err(ReadError::NotFound);
    }
    let file: Arc<str> = Arc::from(path.display().to_string());
    read_policy_file(path)
        .and_then(|bytes| decode(&bytes))
        .map_err(|problem| {
            ReadError::Problem(problem.problem.into_diagnostic(&file), problem.source)
        })
}

/// `*.yaml` and `*.yml`, except names starting with `.`: editors' lock and backup files
/// (Emacs's `.#a.yaml` is a dangling symbolic link while the file is being edited).
fn looks_like_a_policy_file(path: &Path) -> bool {
    let hidden = is_hidden(path);
    let extension = path.extension().and_then(|e| e.to_str());
    !hidden && matches!(extension, Some("yaml" | "yml"))
}

/// What went wrong with one file, before it is located.
struct FileProblem {
    problem: Problem,
    /// The text to show snippets from, when there is one (a file that is not UTF-8, decoded
    /// with replacement characters).
    source: Option<Arc<str>>,
}

struct Problem {
    message: String,
    loc: Option<Loc>,
    hint: &'static str,
}

impl Problem {
    fn whole(message: String, hint: &'static str) -> FileProblem {
        FileProblem {
            problem: Problem {
                message,
                loc: None,
                hint,
            },
            source: None,
        }
    }

    fn into_diagnostic(self, file: &Arc<str>) -> Diagnostic {
        let origin = match self.loc {
            Some(loc) => Origin::at(file, loc),
            None => Origin::file(file),
        };
        Diagnostic::new(self.message, origin).with_hint(self.hint)
    }
}

const NOT_REGULAR_HINT: &str = "policy files must be regular files: move it out of the policy directory, or rename it so that its name does not end in .yaml or .yml";

/// Checks the file type first (following symbolic links), then reads at most
/// [`MAX_FILE_BYTES`].
fn read_policy_file(path: &Path) -> Result<Vec<u8>, FileProblem> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return Err(unreachable_file(path, &error)),
    };
    if !metadata.is_file() {
        let via = match fs::read_link(path) {
            Ok(target) => format!("a symbolic link to `{}`, which is ", target.display()),
            Err(_) => String::new(),
        };
        return Err(Problem::whole(
            format!("this is {via}{}, not a regular file", file_kind(&metadata)),
            NOT_REGULAR_HINT,
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    let read =
        fs::File::open(path).and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    match read {
        Ok(_) if bytes.len() as u64 > MAX_FILE_BYTES => Err(too_large(bytes.len() as u64)),
        Ok(_) => Ok(bytes),
        Err(error) => Err(Problem::whole(
            format!("cannot read this file: {}", describe(&error)),
            "check that the file is readable by the user running verifyctl",
        )),
    }
}

fn too_large(bytes: u64) -> FileProblem {
    Problem::whole(
        format!(
            "this file is {:.1} MiB; policy files over {} MiB are refused",
            bytes as f64 / (1024.0 * 1024.0),
            MAX_FILE_BYTES / (1024 * 1024)
        ),
        "split the policies into several files: every file of the directory is read and merged",
    )
}

/// Why `metadata` failed: a dangling or looping symbolic link, or another error.
fn unreachable_file(path: &Path, error: &io::Error) -> FileProblem {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Problem::whole(
            format!("cannot read this file: {}", describe(error)),
            "check that the file is readable by the user running verifyctl",
        );
    }
    let target = fs::read_link(path).map_or_else(|_| "?".to_string(), |t| t.display().to_string());
    if link_loops(path) {
        return Problem::whole(
            format!("this is a symbolic link to `{target}` that loops back on itself"),
            "point the link at the real policy file, or remove it",
        );
    }
    if error.kind() == io::ErrorKind::NotFound {
        return Problem::whole(
            format!("this is a symbolic link to `{target}`, which does not exist"),
            "point the link at an existing policy file, or remove it; its policies cannot be left out silently",
        );
    }
    Problem::whole(
        format!(
            "this is a symbolic link to `{target}`, which cannot be read: {}",
            describe(error)
        ),
        "point the link at a readable policy file, or remove it",
    )
}

/// Whether following the link from `path` comes back to a link already seen (or takes more
/// hops than any system allows).
fn link_loops(path: &Path) -> bool {
    let mut seen = BTreeSet::new();
    let mut current = path.to_path_buf();
    for _ in 0..64 {
        let Ok(target) = fs::read_link(&current) else {
            return false;
        };
        let next = match current.parent() {
            Some(parent) => parent.join(&target),
            None => target,
        };
        if !seen.insert(current) {
            return true;
        }
        current = next;
    }
    true
}

fn file_kind(metadata: &Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// An I/O error in verifyctl's words (the operating system's text only as a last resort).
fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "it does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotADirectory => "it is not a directory".into(),
        io::ErrorKind::IsADirectory => "it is a directory".into(),
        io::ErrorKind::InvalidData => "it holds data that cannot be read as text".into(),
        kind => kind.to_string(),
    }
}

/// Policy file bytes to text: UTF-8, with or without a byte-order mark. UTF-16 and UTF-32
/// (with a byte-order mark, or UTF-16 recognisable by its zero bytes) and invalid UTF-8 are
/// refused with the place of the first bad byte.
fn decode(bytes: &[u8]) -> Result<String, FileProblem> {
    let save_as_utf8 =
        "save the file as UTF-8 (most editors offer the encoding in their \"Save as\" dialog)";
    let wide = match bytes {
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => Some("UTF-32"),
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => Some("UTF-16"),
        [a, 0, b, 0, ..] | [0, a, 0, b, ..] if *a != 0 && *b != 0 => Some("UTF-16"),
        _ => None,
    };
    if let Some(encoding) = wide {
        return Err(Problem::whole(
            format!("the file is {encoding}; save it as UTF-8"),
            save_as_utf8,
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            // Valid by construction; the fallback is never taken.
            let before = std::str::from_utf8(valid).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            let bad = bytes[error.valid_up_to()];
            Err(FileProblem {
                problem: Problem {
                    message: format!(
                        "the file is not valid UTF-8: byte 0x{bad:02X} (at byte offset {}) is not part of a UTF-8 character",
                        error.valid_up_to()
                    ),
                    loc: Some(Loc {
                        line: u32::try_from(line).unwrap_or(u32::MAX),
                        column: u32::try_from(column).unwrap_or(u32::MAX),
                    }),
                    hint: "it is probably Latin-1 or Windows-1252: save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                },
                source: Some(Arc::from(String::from_utf8_lossy(bytes).as_ref())),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<String, String> {
        decode(bytes).map_err(|p| {
            let d = p.problem.into_diagnostic(&Arc::from("a.yaml"));
            format!("{} {}", d.origin, d.message)
        })
    }

    #[test]
    fn utf8_with_or_without_a_byte_order_mark_is_read() {
        assert_eq!(decoded(b"users: []\n").unwrap(), "users: []\n");
        assert_eq!(decoded(b"\xEF\xBB\xBFusers: []\n").unwrap(), "users: []\n");
        assert_eq!(decoded("name: José\n".as_bytes()).unwrap(), "name: José\n");
        assert_eq!(decoded(b"").unwrap(), "");
    }

    #[test]
    fn wide_encodings_are_named() {
        assert!(
            decoded(b"\xFF\xFEu\0s\0")
                .unwrap_err()
                .ends_with("the file is UTF-16; save it as UTF-8")
        );
        assert!(decoded(b"\xFE\xFF\0u\0s").unwrap_err().contains("UTF-16"));
        assert!(decoded(b"u\0s\0e\0r\0").unwrap_err().contains("UTF-16"));
        assert!(
            decoded(b"\xFF\xFE\0\0u\0\0\0")
                .unwrap_err()
                .contains("UTF-32")
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let error = decoded(b"users:\n  - name: Jos\xE9\n").unwrap_err();
        assert_eq!(
            error,
            "a.yaml:2:14 the file is not valid UTF-8: byte 0xE9 (at byte offset 20) is not part of a UTF-8 character"
        );
    }

    #[test]
    fn hidden_files_and_other_extensions_are_not_policy_files() {
        assert!(looks_like_a_policy_file(Path::new("p/a.yaml")));
        assert!(looks_like_a_policy_file(Path::new("p/a.yml")));
        assert!(!looks_like_a_policy_file(Path::new("p/.#a.yaml")));
        assert!(!looks_like_a_policy_file(Path::new("p/a.yaml.swp")));
        assert!(!looks_like_a_policy_file(Path::new("p/README.md")));
    }
}
