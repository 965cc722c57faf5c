//! Progress on stderr (indicatif), beside the run loop and `eval`: drawn only when stderr is a
//! terminal and `-q` was not given, so pipes, logs and CI get nothing but what was asked for.
//! Messages printed while a bar is drawn go through [`Progress::println`] so they do not tear it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar (or a spinner when the total is unknown), or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Bytes read so far, kept by the reader; the bar's position when tagging files.
    bytes: Option<Arc<AtomicU64>>,
}

/// Whether progress may be drawn: stderr is a terminal and the user did not ask for quiet.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr_with_hz(8)),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8)),
    };
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("█▉▊▋▌▍▎▏ ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

impl Progress {
    /// Nothing drawn.
    pub fn hidden() -> Self {
        Self {
            bar: None,
            bytes: None,
        }
    }

    /// Tagging: a bar over the input's bytes with an ETA when every input is a file of known
    /// size (`total`), else a spinner with the bytes read; either way records, entities and
    /// records/s. Kept under 80 columns.
    pub fn tagging(show: bool, total: Option<u64>, bytes: Arc<AtomicU64>) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = match total {
            Some(t) => bar(
                Some(t),
                "{spinner} [{bar:16}] {percent:>3}% · {msg} · ETA {eta}",
            ),
            None => bar(None, "{spinner} {binary_bytes} · {msg} · {elapsed}"),
        };
        Self {
            bar: Some(bar),
            bytes: Some(bytes),
        }
    }

    /// `eval`: a bar over the gold sentences.
    pub fn sentences(show: bool, total: usize) -> Self {
        if !show {
            return Self::hidden();
        }
        Self {
            bar: Some(bar(
                Some(total as u64),
                "{spinner} [{bar:16}] {pos}/{len} sentences · {elapsed} · ETA {eta}",
            )),
            bytes: None,
        }
    }

    /// After a chunk was written: records and entities so far, over `secs` seconds.
    pub fn tagged(&self, records: usize, entities: usize, secs: f64) {
        if let Some(bar) = &self.bar {
            if let Some(b) = &self.bytes {
                bar.set_position(b.load(Ordering::Relaxed));
            }
            bar.set_message(format!(
                "{records} records · {entities} entities · {:.0}/s",
                records as f64 / secs.max(1e-9)
            ));
        }
    }

    /// `eval`: sentences done so far.
    pub fn set(&self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    /// Prints a message line on stderr above the bar.
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
