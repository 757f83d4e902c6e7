//! The layer order `src/lib.rs` states is the one the code follows: every `use crate::…` (and
//! every `crate::…::` path) in a module names a module of a lower layer, and the emulator
//! uses only the first layer.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::repo_root;

/// The layers of `src/lib.rs`'s doc, bottom first: module name → layer number.
fn stated_layers() -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(repo_root().join("src/lib.rs")).expect("lib.rs");
    let mut layers = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.strip_prefix("//! ") else {
            continue;
        };
        let Some((number, text)) = rest.split_once(". ") else {
            continue;
        };
        let Ok(number) = number.trim().parse::<usize>() else {
            continue;
        };
        let listed = text.split(':').next().unwrap_or_default();
        for module in listed.split('`').skip(1).step_by(2) {
            let name = module.trim_start_matches('[').trim_end_matches(']');
            layers.insert(name.to_string(), number);
        }
    }
    layers
}

/// The crate modules a source file refers to, outside comments.
fn referenced_modules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

fn sources_of(module: &str) -> Vec<std::path::PathBuf> {
    let src = repo_root().join("src");
    let file = src.join(format!("{module}.rs"));
    let dir = src.join(module);
    let mut files = Vec::new();
    if file.is_file() {
        files.push(file);
    }
    if dir.is_dir() {
        collect_rs(&dir, &mut files);
    }
    files
}

fn collect_rs(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn lib_rs_states_every_module_in_a_layer() {
    let layers = stated_layers();
    let lib = std::fs::read_to_string(repo_root().join("src/lib.rs")).expect("lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(declared.len() > 10, "{declared:?}");
    for module in declared {
        assert!(
            layers.contains_key(module),
            "src/lib.rs declares `{module}` but its layer list does not place it"
        );
    }
}

#[test]
fn no_module_reaches_up_or_sideways() {
    let layers = stated_layers();
    let mut violations = Vec::new();
    for (module, layer) in &layers {
        for file in sources_of(module) {
            let text = std::fs::read_to_string(&file).expect("source");
            for used in referenced_modules(&text) {
                if &used == module {
                    continue;
                }
                let Some(used_layer) = layers.get(&used) else {
                    violations.push(format!("{}: uses unknown module `{used}`", file.display()));
                    continue;
                };
                let allowed = if module == "emulator" {
                    *used_layer == 1
                } else {
                    used_layer < layer
                };
                if !allowed {
                    violations.push(format!(
                        "{}: `{module}` (layer {layer}) uses `{used}` (layer {used_layer})",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
