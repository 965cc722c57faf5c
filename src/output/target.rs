//! Output stage, targets: where the records go — stdout, one file (`-o`), or a file per input
//! source (`--output-dir`) — chosen once from the configuration; with `--resume` each file keeps
//! the whole records an earlier run wrote, and the run is told how many to pass over.

use std::io::BufWriter;
use std::path::PathBuf;

use super::resume::{self, Done};
use super::{printer, ErrorRecord, PrintOptions, Printer, TaggedRecord};
use crate::error::Result;

/// Where the records go.
#[derive(Debug, Clone)]
pub enum Target {
    Stdout,
    File(PathBuf),
    /// One output per input source: source `n`'s records go to `paths[n]`.
    PerSource(Vec<PathBuf>),
}

/// Records of this run's share an earlier run already wrote, to pass over (`--resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The first n records, over all sources (one output).
    First(usize),
    /// The first `n[s]` records of each source `s` (a file per source).
    PerSource(Vec<usize>),
}

impl Skip {
    /// Records passed over in all.
    pub fn total(&self) -> usize {
        match self {
            Skip::First(n) => *n,
            Skip::PerSource(n) => n.iter().sum(),
        }
    }
}

/// An opened target: its printer, what to pass over, and its name for messages.
pub struct Opened {
    pub printer: Box<dyn Printer + Send>,
    pub skip: Skip,
    pub name: String,
}

const BUFFER: usize = 1 << 16;

impl Target {
    /// Whether each input source gets its own output.
    pub fn per_source(&self) -> bool {
        matches!(self, Target::PerSource(_))
    }

    pub fn open(&self, opts: PrintOptions, resume: bool) -> Result<Opened> {
        match self {
            Target::Stdout => Ok(Opened {
                printer: printer(
                    BufWriter::with_capacity(BUFFER, std::io::stdout()),
                    "stdout",
                    opts,
                ),
                skip: Skip::First(0),
                name: "stdout".into(),
            }),
            Target::File(path) => {
                let done = if resume {
                    resume::existing(path, opts.format)?
                } else {
                    Done::default()
                };
                let file = resume::open_after(path, resume.then_some(done))?;
                let name = path.display().to_string();
                Ok(Opened {
                    printer: printer(BufWriter::with_capacity(BUFFER, file), &name, opts),
                    skip: Skip::First(done.records),
                    name,
                })
            }
            Target::PerSource(paths) => {
                let done = paths
                    .iter()
                    .map(|p| match resume {
                        true => resume::existing(p, opts.format),
                        false => Ok(Done::default()),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let skip = Skip::PerSource(done.iter().map(|d| d.records).collect());
                Ok(Opened {
                    printer: Box::new(PerSource {
                        paths: paths.clone(),
                        done,
                        resume,
                        opts,
                        current: 0,
                        open: None,
                    }),
                    skip,
                    name: "--output-dir".into(),
                })
            }
        }
    }
}

/// A printer per source, each opened when its source's first record or end arrives (so a run
/// stopped early creates no file for sources it never reached, and an empty source gets an
/// empty output), finished at the source's end.
struct PerSource {
    paths: Vec<PathBuf>,
    done: Vec<Done>,
    resume: bool,
    opts: PrintOptions,
    /// The source records arrive from: sources end in order.
    current: usize,
    open: Option<Box<dyn Printer + Send>>,
}

impl PerSource {
    fn printer(&mut self) -> Result<&mut Box<dyn Printer + Send>> {
        if self.open.is_none() {
            let path = &self.paths[self.current];
            let done = self.done[self.current];
            let file = resume::open_after(path, self.resume.then_some(done))?;
            let mut p = printer(
                BufWriter::with_capacity(BUFFER, file),
                &path.display().to_string(),
                self.opts,
            );
            if done.records == 0 {
                p.begin()?;
            }
            self.open = Some(p);
        }
        Ok(self.open.as_mut().expect("opened above"))
    }
}

impl Printer for PerSource {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        self.printer()?.record(rec)
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        self.printer()?.error(err)
    }

    fn end_source(&mut self, n: usize) -> Result<()> {
        debug_assert_eq!(n, self.current, "sources end in order");
        self.printer()?.finish()?;
        self.open = None;
        self.current += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.open {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<()> {
        match &mut self.open {
            Some(p) => p.finish(),
            None => Ok(()),
        }
    }
}
