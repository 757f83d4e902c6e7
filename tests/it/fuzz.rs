//! A mutation fuzzer for the policy loader, for hostile input: it takes well-formed policy
//! files (the example policies and a few seeds), mutates them (bytes, YAML punctuation,
//! splices, deep nesting, long lines, aliases, odd characters) and checks that
//! `load_sources` never panics and that what it prints stays bounded. It is `#[ignore]`d so
//! the normal test run stays fast; run it with
//!
//! ```text
//! cargo test --release --test it -- --ignored fuzz
//! VERIFYCTL_FUZZ_CASES=200000 VERIFYCTL_FUZZ_SEED=42 cargo test --release --test it -- --ignored fuzz
//! ```
//!
//! A failing case is written to `target/fuzz-failures/` and its seed printed, so it can be
//! replayed with `VERIFYCTL_FUZZ_SEED`. (cargo-fuzz needs a nightly toolchain; this runs on
//! stable.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use verifyctl::policy::{PolicySource, load_sources};

use crate::support::repo_root;

/// xorshift64*: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() >> 33) as usize % bound.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: [&str; 6] = [
    "connections:\n  - name: partner-db\n    email_verification: required\n    resend: { after: 72h, max: 3 }\n    signup: disabled\n    block_unverified_login: true\n    resend_on_login: true\n    verification_client: Partner Portal\n",
    "users:\n  - connection: partner-db\n    email: alice@partner.example\n    name: Alice Doe\n    given_name: Alice\n    family_name: Doe\n    user_metadata: {team: blue, tags: [a, b], nested: {x: 1}}\n    app_metadata: {plan: gold}\n    email_verification: off\n    onboarding: password-reset\n",
    "applications:\n  - name: Partner Portal\n    email_verification: required\n  - client_id: abc123\n    email_verification: off\nlogin:\n  deny_message: Please verify your email.\n  action_name: verifyctl-email-verification\n",
    "base: &base {connection: partner-db, email_verification: off}\nusers:\n  - <<: *base\n    email: a@b.example\n  - {<<: *base, email: c@d.example}\n",
    "connections: [{name: a, email_verification: trusted}, {name: b, email_verification: off}]\nusers: [{connection: a, email: x@y.example}]\n",
    "# yaml-language-server: $schema=../schemas/policy.schema.json\n---\nconnections:\n  - name: \"quoted \\u00e9\"\n    email_verification: 'required'\n    resend:\n      after: 1w\n      max: 10\n",
];

const PUNCTUATION: [&str; 30] = [
    "[",
    "]",
    "{",
    "}",
    ":",
    ": ",
    ",",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "&a ",
    "*a",
    "!!str ",
    "!tag ",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "~",
    "---\n",
    "...\n",
    "<<: ",
    "%YAML 1.2\n",
    "\\",
    "?",
    "@",
    "\u{feff}",
    "\0",
];

const WORDS: [&str; 24] = [
    "connections",
    "applications",
    "users",
    "login",
    "name",
    "email",
    "email_verification",
    "required",
    "trusted",
    "off",
    "resend",
    "after",
    "max",
    "0s",
    "9223372036854775807s",
    "-1",
    "4294967296",
    "null",
    "true",
    "yes",
    "1e999",
    ".nan",
    "user_metadata",
    "onboarding",
];

fn mutate(rng: &mut Rng, input: &str, seeds: &[String]) -> String {
    let mut text: Vec<u8> = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(text.len() + 1);
        match rng.below(12) {
            0 => {
                if !text.is_empty() {
                    let i = rng.below(text.len());
                    text[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                let end = (at + rng.below(40)).min(text.len());
                text.drain(at.min(end)..end);
            }
            2 | 3 => {
                let insert = rng.pick(&PUNCTUATION).as_bytes().to_vec();
                text.splice(at..at, insert);
            }
            4 => {
                let insert = rng.pick(&WORDS).as_bytes().to_vec();
                text.splice(at..at, insert);
            }
            5 => {
                // Duplicate a slice (repeated keys, repeated entries).
                let end = (at + rng.below(120)).min(text.len());
                let slice = text[at.min(end)..end].to_vec();
                text.splice(end..end, slice);
            }
            6 => {
                // Splice in part of another seed.
                let other = rng.pick(seeds).as_bytes();
                let from = rng.below(other.len());
                let to = (from + rng.below(200)).min(other.len());
                text.splice(at..at, other[from..to].iter().copied());
            }
            7 => {
                // Deep nesting.
                let depth = rng.below(200);
                let open = if rng.below(2) == 0 { "[" } else { "{a: " };
                let close = if open == "[" { "]" } else { "}" };
                let nested = format!("{}{}", open.repeat(depth), close.repeat(depth));
                text.splice(at..at, nested.into_bytes());
            }
            8 => {
                // A long line or value.
                let long = "x".repeat(rng.below(50_000));
                text.splice(at..at, long.into_bytes());
            }
            9 => {
                // Many items on one line.
                let items = vec!["0"; rng.below(5_000)].join(", ");
                text.splice(at..at, format!("[{items}]").into_bytes());
            }
            10 => {
                // Alias fan-out.
                let mut bomb = String::from("\nz0: &z0 [q, q, q, q, q, q, q, q]\n");
                for level in 1..rng.below(12) {
                    let aliases = vec![format!("*z{}", level - 1); 8].join(", ");
                    bomb.push_str(&format!("z{level}: &z{level} [{aliases}]\n"));
                }
                text.splice(at..at, bomb.into_bytes());
            }
            _ => {
                let odd = rng.pick(&[
                    "é",
                    "\u{1b}[31m",
                    "\r\n",
                    "\u{2028}",
                    "\u{a0}",
                    "山",
                    "\u{fffd}",
                    "\x7f",
                ]);
                text.splice(at..at, odd.as_bytes().iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// What one case may print at most: 50 problems shown per file, each with a bounded
/// message and snippet, plus the summary lines.
const MAX_OUTPUT: usize = 200_000;

#[test]
#[ignore = "a fuzzer: run with `cargo test --release --test it -- --ignored fuzz`"]
fn fuzz_the_policy_loader() {
    let cases: usize = std::env::var("VERIFYCTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("VERIFYCTL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("fuzz: {cases} cases, VERIFYCTL_FUZZ_SEED={seed}");
    let mut seeds: Vec<String> = SEEDS.iter().map(|s| (*s).to_string()).collect();
    for entry in std::fs::read_dir(repo_root().join("policies")).expect("policies/") {
        seeds.push(std::fs::read_to_string(entry.expect("entry").path()).expect("readable"));
    }
    let mut rng = Rng(seed | 1);
    let mut rejected = 0;
    for case in 0..cases {
        let base = rng.pick(&seeds).clone();
        let text = mutate(&mut rng, &base, &seeds);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let result = load_sources(vec![PolicySource {
                file: Arc::from("fuzz.yaml"),
                text: Arc::from(text.as_str()),
            }]);
            match result {
                Ok(_) => Ok(false),
                Err(errors) => {
                    let human = errors.render_human().len();
                    let github = errors.render_github().len();
                    if human > MAX_OUTPUT || github > MAX_OUTPUT {
                        Err(format!(
                            "{human} bytes of human output, {github} of annotations"
                        ))
                    } else {
                        Ok(true)
                    }
                }
            }
        }));
        let failure = match outcome {
            Ok(Ok(was_rejected)) => {
                rejected += usize::from(was_rejected);
                None
            }
            Ok(Err(unbounded)) => Some(unbounded),
            Err(panic) => Some(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "a panic".into()),
            ),
        };
        if let Some(failure) = failure {
            let dir = repo_root().join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).expect("target/ is writable");
            let path = dir.join(format!("case-{seed}-{case}.yaml"));
            std::fs::write(&path, &text).expect("write the failing case");
            panic!(
                "case {case} (VERIFYCTL_FUZZ_SEED={seed}): {failure}; input in {}",
                path.display()
            );
        }
    }
    eprintln!("fuzz: {cases} cases, {rejected} rejected, no panic, output bounded");
}
