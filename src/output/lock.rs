//! Output stage, ownership: every file a run writes (`-o`, each `--output-dir` file,
//! `--stats-json`) is opened without truncation and locked (an exclusive advisory lock) before a
//! byte of it is read, cut or written, and stays locked until the run ends; a second run that
//! wants it stops at once, the first run's bytes untouched.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};

/// What the second run is told.
pub const HELD: &str = "another ner-tag process is writing this file";

/// An output file, open for reading and writing and locked by this process.
pub struct Locked {
    pub file: File,
    /// The file did not exist before this run opened it.
    pub created: bool,
    /// A regular file (not a device or a pipe such as `/dev/null`, which are written as they
    /// are: not locked, cut nor read back).
    pub regular: bool,
}

/// Opens `path` (its folder and the file created if missing, nothing truncated) and takes an
/// exclusive lock on it without waiting: a file locked by another process is an error naming it.
pub fn lock(path: &Path) -> Result<Locked> {
    let io = |e| Error::io(path.display(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    let created = !path.exists();
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        return Ok(Locked {
            file,
            created,
            regular: false,
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Locked {
            file,
            created,
            regular: true,
        }),
        Err(TryLockError::WouldBlock) => Err(io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            HELD,
        ))),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Opens and locks `path` when it is an existing regular file (`None` otherwise), for
/// `--resume` to read under the lock what an earlier run wrote there.
pub fn lock_existing(path: &Path) -> Result<Option<Locked>> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    lock(path).map(Some)
}

/// Cuts a locked file to its first `keep` bytes (0: starts it over) and positions it there,
/// ready to append; a device or a pipe is left as it is.
pub fn cut(file: &mut File, keep: u64, path: &Path) -> Result<()> {
    let io = |e| Error::io(path.display(), e);
    if !file.metadata().map_err(io)?.is_file() {
        return Ok(());
    }
    file.set_len(keep).map_err(io)?;
    file.seek(SeekFrom::Start(keep)).map_err(io)?;
    Ok(())
}

/// A second handle on a locked file: the lock lasts while any handle is open, so this one keeps
/// it after the printer has closed its own.
pub fn keep(file: &File, path: &Path) -> Result<File> {
    file.try_clone().map_err(|e| Error::io(path.display(), e))
}

/// Whether an open failed because the process has no file descriptors left.
pub fn out_of_descriptors(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(EMFILE))
}

const EMFILE: i32 = 24;

/// Raises the limit of open files to the hard limit (a file per output stays open, locked, until
/// the run ends), and returns how many outputs may stay locked at once.
pub fn output_budget() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
        unsafe {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                let want = lim.rlim_max.min(1 << 20);
                if want > lim.rlim_cur {
                    let raised = libc::rlimit {
                        rlim_cur: want,
                        rlim_max: lim.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        lim.rlim_cur = want;
                    }
                }
                // What is left for inputs, the model's files, pipes and threads.
                return (lim.rlim_cur as usize).saturating_sub(256).max(16);
            }
        }
        768
    }
    #[cfg(not(unix))]
    {
        768
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_handle_closes() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/out.jsonl");
        let first = lock(&path).unwrap();
        assert!(first.created);
        let kept = keep(&first.file, &path).unwrap();
        drop(first);
        // The kept handle still holds it.
        let e = lock(&path).err().expect("locked twice");
        assert!(e.to_string().contains(HELD), "{e}");
        drop(kept);
        let again = lock(&path).unwrap();
        assert!(!again.created && again.regular);
        // A device is written as it is, never locked: two runs may both write to /dev/null.
        #[cfg(unix)]
        {
            let null = Path::new("/dev/null");
            let (mut a, b) = (lock(null).unwrap(), lock(null).unwrap());
            assert!(!a.regular && !b.regular);
            cut(&mut a.file, 0, null).unwrap();
        }
        assert!(lock_existing(&d.path().join("none")).unwrap().is_none());
        assert!(output_budget() >= 16);
    }
}
