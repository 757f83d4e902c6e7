//! Progress of an apply on stderr: a bar when stderr is a terminal (indicatif), otherwise a
//! plain line every few seconds (CI logs). Lines for stdout go through [`Progress::println`]
//! so the bar never tears them.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain progress lines are printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Instant,
    failed: usize,
}

impl Progress {
    /// `enabled: false` (`--no-progress`) prints nothing on stderr.
    pub fn new(total: usize, enabled: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} applying [{bar:30}] {pos}/{len} {msg} ({elapsed})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            plain: enabled && !terminal,
            started: Instant::now(),
            last_line: Instant::now(),
            failed: 0,
        }
    }

    /// Prints a line on stdout without disturbing the bar.
    pub fn println(&self, line: &str) {
        let print = || {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Records one finished action.
    pub fn advance(&mut self, done: usize, total: usize, failed: bool) {
        if failed {
            self.failed += 1;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if self.failed > 0 {
                bar.set_message(format!("{} failed", self.failed));
            }
        } else if self.plain && (self.last_line.elapsed() >= PLAIN_EVERY || done == total) {
            self.last_line = Instant::now();
            eprintln!(
                "apply: {done}/{total} actions done ({} failed) after {:.0}s",
                self.failed,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Prints a notice on stderr without disturbing the bar.
    pub fn notice(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
