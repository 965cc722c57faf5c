//! Output stage, targets: where the records go — stdout, one file (`-o`), or a file per input
//! source (`--output-dir`) — chosen once from the configuration; with `--resume` each file keeps
//! the whole records an earlier run wrote, and the run is told how many to pass over; every file
//! is locked before it is read or cut ([`lock`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use super::resume::{self, Done};
use super::{lock, printer, ErrorRecord, Format, PrintOptions, Printer, TaggedRecord};
use crate::error::{Error, Result};

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

    /// Locks the target's files and, with `resume`, counts the whole records an earlier run wrote
    /// there, under the lock; nothing is cut or written yet. `-o`'s file is opened (created) and
    /// locked here; each `--output-dir` file when its source begins (with `resume`, an existing one
    /// here), each held until the run ends. A file another ner-tag process holds is an error.
    pub fn lock(&self, format: Format, resume: bool) -> Result<LockedTarget> {
        let inner = match self {
            Target::Stdout => Inner::Stdout,
            Target::File(path) => {
                let locked = lock::lock(path)?;
                let mut file = locked.file;
                let done = match resume && locked.regular {
                    true => resume::records_in(&mut file, path, format)?,
                    false => Done::default(),
                };
                Inner::File {
                    path: path.clone(),
                    file,
                    done,
                }
            }
            Target::PerSource(paths) => {
                let budget = lock::output_budget();
                let mut held = Vec::with_capacity(paths.len());
                let mut done = Vec::with_capacity(paths.len());
                let mut seen = Vec::with_capacity(paths.len());
                let mut n_held = 0;
                for path in paths {
                    let found = match resume {
                        true => lock::lock_existing(path)?,
                        false => None,
                    };
                    let Some(mut l) = found else {
                        held.push(None);
                        done.push(Done::default());
                        seen.push(0);
                        continue;
                    };
                    done.push(resume::records_in(&mut l.file, path, format)?);
                    seen.push(
                        l.file
                            .metadata()
                            .map_err(|e| Error::io(path.display(), e))?
                            .len(),
                    );
                    // Beyond what may stay open, a file is locked again when its source begins
                    // and must then be as it was seen here.
                    held.push((n_held < budget).then_some(l.file));
                    n_held += 1;
                }
                Inner::PerSource(PerSource {
                    paths: paths.clone(),
                    done,
                    held,
                    seen,
                    finished: VecDeque::new(),
                    n_held: n_held.min(budget),
                    budget,
                    warned: false,
                    resume,
                    opts: None,
                    current: 0,
                    open: None,
                })
            }
        };
        Ok(LockedTarget { inner })
    }

    /// Locks the target and opens it for the run ([`Target::lock`], then [`LockedTarget::open`]).
    pub fn open(&self, opts: PrintOptions, resume: bool) -> Result<Opened> {
        self.lock(opts.format, resume)?.open(opts)
    }
}

/// A target whose files are locked (or, per source, will be when their turn comes).
pub struct LockedTarget {
    inner: Inner,
}

enum Inner {
    Stdout,
    File {
        path: PathBuf,
        file: File,
        done: Done,
    },
    PerSource(PerSource),
}

impl LockedTarget {
    /// Whole records earlier runs left in the target's files (what `--resume` keeps).
    pub fn kept_records(&self) -> usize {
        match &self.inner {
            Inner::Stdout => 0,
            Inner::File { done, .. } => done.records,
            Inner::PerSource(p) => p.done.iter().map(|d| d.records).sum(),
        }
    }

    /// How messages name the target.
    pub fn name(&self) -> String {
        match &self.inner {
            Inner::Stdout => "stdout".into(),
            Inner::File { path, .. } => path.display().to_string(),
            Inner::PerSource(_) => "--output-dir".into(),
        }
    }

    /// Cuts what is not kept (everything, unless resuming) and makes the printer.
    pub fn open(self, opts: PrintOptions) -> Result<Opened> {
        let name = self.name();
        match self.inner {
            Inner::Stdout => Ok(Opened {
                printer: printer(
                    BufWriter::with_capacity(BUFFER, std::io::stdout()),
                    &name,
                    opts,
                ),
                skip: Skip::First(0),
                name,
            }),
            Inner::File {
                path,
                mut file,
                done,
            } => {
                lock::cut(&mut file, done.bytes, &path)?;
                Ok(Opened {
                    printer: printer(BufWriter::with_capacity(BUFFER, file), &name, opts),
                    skip: Skip::First(done.records),
                    name,
                })
            }
            Inner::PerSource(mut p) => {
                p.opts = Some(opts);
                Ok(Opened {
                    skip: Skip::PerSource(p.done.iter().map(|d| d.records).collect()),
                    printer: Box::new(p),
                    name,
                })
            }
        }
    }
}

/// A printer per source, each opened when its source's first record or end arrives (so a run
/// stopped early creates no file for sources it never reached, and an empty source gets an
/// empty output), finished at the source's end; its file stays locked until the run ends.
struct PerSource {
    paths: Vec<PathBuf>,
    done: Vec<Done>,
    /// Files locked by `--resume`'s count, until their source begins.
    held: Vec<Option<File>>,
    /// The length each file had when counted (0: it did not exist).
    seen: Vec<u64>,
    /// A handle on each finished file, keeping it locked; the oldest are let go beyond `budget`.
    finished: VecDeque<File>,
    /// Files still in `held`.
    n_held: usize,
    budget: usize,
    /// Told the user that finished files are no longer all locked.
    warned: bool,
    resume: bool,
    opts: Option<PrintOptions>,
    /// The source records arrive from: sources end in order.
    current: usize,
    open: Option<Box<dyn Printer + Send>>,
}

impl PerSource {
    fn lock_current(&mut self) -> Result<File> {
        let n = self.current;
        let path = self.paths[n].clone();
        let path = path.as_path();
        if let Some(file) = self.held[n].take() {
            self.n_held -= 1;
            return Ok(file);
        }
        let locked = match lock::lock(path) {
            Err(e) if lock::out_of_descriptors(&e) && !self.finished.is_empty() => {
                self.let_go(self.finished.len());
                lock::lock(path)
            }
            other => other,
        }?;
        let len = locked
            .file
            .metadata()
            .map_err(|e| Error::io(path.display(), e))?
            .len();
        if self.resume && len != self.seen[n] {
            return Err(Error::io(
                path.display(),
                std::io::Error::other(
                    "written by another process since this run began; run again to resume",
                ),
            ));
        }
        Ok(locked.file)
    }

    /// Releases the locks of the `n` oldest finished files.
    fn let_go(&mut self, n: usize) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "ner-tag: --output-dir: more output files than this process may keep open: the oldest finished ones are no longer locked"
            );
        }
        self.finished.drain(..n.min(self.finished.len()));
    }

    fn printer(&mut self) -> Result<&mut Box<dyn Printer + Send>> {
        if self.open.is_none() {
            let opts = self.opts.clone().expect("set by LockedTarget::open");
            let mut file = self.lock_current()?;
            let path = &self.paths[self.current];
            let done = self.done[self.current];
            lock::cut(&mut file, done.bytes, path)?;
            let kept = lock::keep(&file, path)?;
            let mut p = printer(
                BufWriter::with_capacity(BUFFER, file),
                &path.display().to_string(),
                opts,
            );
            if done.records == 0 {
                p.begin()?;
            }
            self.open = Some(p);
            if self.n_held + self.finished.len() >= self.budget {
                self.let_go(1);
            }
            self.finished.push_back(kept);
        }
        Ok(self.open.as_mut().expect("opened above"))
    }
}

impl Printer for PerSource {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        self.printer()?.record(rec)
    }

    fn record_streamed(
        &mut self,
        rec: &TaggedRecord,
        entities: &mut dyn Iterator<Item = Result<crate::decode::Entity>>,
    ) -> Result<()> {
        self.printer()?.record_streamed(rec, entities)
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
