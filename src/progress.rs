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
    total: usize,
    finished: usize,
    failed: usize,
    not_started: usize,
}

impl Progress {
    /// `enabled: false` (`--no-progress`) prints nothing on stderr.
    pub fn new(total: usize, enabled: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} applying [{bar:30}] {pos}/{len} {msg} ({elapsed}, about {eta} left)",
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
            total,
            finished: 0,
            failed: 0,
            not_started: 0,
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

    /// Records one finished action (succeeded or failed) and returns how many have finished,
    /// for the `[n/total]` of its line. Call it before printing that line, so the bar is
    /// redrawn at the new count.
    pub fn finished(&mut self, failed: bool) -> usize {
        self.finished += 1;
        if failed {
            self.failed += 1;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.finished as u64);
            if self.failed > 0 {
                bar.set_message(format!("{} failed", self.failed));
            }
        }
        self.plain_line();
        self.finished
    }

    /// Records an action an interrupted run did not start: it does not count as done.
    pub fn not_started(&mut self) {
        self.not_started += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("stopping, {} not started", self.not_started));
        }
        self.plain_line();
    }

    /// Every few seconds, and when the last action is accounted for, one plain line.
    fn plain_line(&mut self) {
        let last = self.finished + self.not_started >= self.total;
        if !self.plain || (self.last_line.elapsed() < PLAIN_EVERY && !last) {
            return;
        }
        self.last_line = Instant::now();
        eprintln!("{}", self.status_line());
    }

    /// `apply: 200/3000 actions done (1 failed) after 40s, about 9m 20s left`.
    fn status_line(&self) -> String {
        let elapsed = self.started.elapsed();
        let mut line = format!(
            "apply: {}/{} actions done ({} failed",
            self.finished, self.total, self.failed
        );
        if self.not_started > 0 {
            line.push_str(&format!(", {} not started", self.not_started));
        }
        line.push_str(&format!(") after {}", duration(elapsed)));
        let left = self.total - self.finished - self.not_started;
        if left > 0 && self.finished > 0 && self.not_started == 0 {
            let per_action = elapsed.as_secs_f64() / self.finished as f64;
            let eta = Duration::from_secs_f64(per_action * left as f64);
            line.push_str(&format!(", about {} left", duration(eta)));
        }
        line
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

/// `42s`, `3m 05s`, `2h 10m`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(total: usize) -> Progress {
        Progress::new(total, false)
    }

    #[test]
    fn the_line_counts_finished_actions_and_estimates_the_rest() {
        let mut progress = quiet(4);
        assert_eq!(progress.finished(false), 1);
        assert_eq!(progress.finished(true), 2);
        let line = progress.status_line();
        assert!(
            line.starts_with("apply: 2/4 actions done (1 failed) after "),
            "{line}"
        );
        assert!(line.contains(", about "), "{line}");
    }

    #[test]
    fn actions_an_interrupted_run_did_not_start_are_not_counted_as_done() {
        let mut progress = quiet(3000);
        for _ in 0..202 {
            progress.finished(false);
        }
        for _ in 0..2798 {
            progress.not_started();
        }
        let line = progress.status_line();
        assert!(
            line.starts_with("apply: 202/3000 actions done (0 failed, 2798 not started) after "),
            "{line}"
        );
        assert!(!line.contains("left"), "{line}");
    }

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(7800)), "2h 10m");
    }
}
