//! Input stage, sources: the files a run reads — paths as given, directories walked with `-r` —
//! and, for `--output-dir`, the output path each one gets (its relative path, new extension);
//! an output that is one of the inputs, by any name, is refused.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::Source;
use crate::output::target::Target;

/// A source and the path its output takes under `--output-dir`.
#[derive(Debug, Clone)]
pub struct Input {
    pub source: Source,
    /// Relative to the directory it was found under (`-r`), or the path as given when that is
    /// relative and stays below the current folder, else its file name.
    pub relative: Option<PathBuf>,
}

/// The sources of the command line's arguments, in order: `-` or nothing is stdin; with
/// `recursive` a directory stands for the files under it, sorted by name, hidden ones (a name
/// starting with `.`) skipped, symbolic links followed with loops detected and skipped, and
/// `exclude` (the output directory) left out. Without `recursive` a directory is an input the
/// reader reports as one. The output directory may not be a folder walked itself.
pub fn collect<S: AsRef<OsStr>>(
    args: &[S],
    recursive: bool,
    exclude: Option<&Path>,
) -> Result<Vec<Input>> {
    if args.is_empty() {
        return Ok(vec![Input {
            source: Source::Stdin,
            relative: None,
        }]);
    }
    let exclude = exclude.and_then(|d| d.canonicalize().ok());
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        let path = Path::new(arg);
        if arg != "-" && recursive && path.is_dir() {
            if exclude.is_some() && path.canonicalize().ok() == exclude {
                return Err(Error::Usage(format!(
                    "--output-dir {}: it is a folder being read; write the outputs elsewhere",
                    path.display()
                )));
            }
            walk(path, exclude.as_deref(), &mut out);
            continue;
        }
        let relative = (arg != "-").then(|| given_relative(path));
        out.push(Input {
            source: Source::parse(arg),
            relative,
        });
    }
    Ok(out)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

fn walk(root: &Path, exclude: Option<&Path>, out: &mut Vec<Input>) {
    let entries = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(is_hidden(e.file_name())
                    || exclude.is_some_and(|x| e.path().canonicalize().is_ok_and(|p| p == x)))
        });
    for entry in entries {
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => out.push(Input {
                relative: Some(
                    e.path()
                        .strip_prefix(root)
                        .unwrap_or(e.path())
                        .to_path_buf(),
                ),
                source: Source::File(e.into_path()),
            }),
            // A link back to a folder above it: its files are read once, under the real path.
            Err(e) if e.loop_ancestor().is_some() => {
                let at = e.path().map_or(String::new(), |p| p.display().to_string());
                eprintln!("ner-tag: {at}: symbolic link loop, not followed");
            }
            // An unreadable folder (or a dangling link) becomes a source that fails to open, so
            // the run reports it in place — an error record, exit 3 — instead of losing it.
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                let msg = e
                    .io_error()
                    .map_or_else(|| e.to_string(), ToString::to_string);
                out.push(Input {
                    relative: Some(path.strip_prefix(root).unwrap_or(&path).to_path_buf()),
                    source: Source::Unreadable(path, msg),
                });
            }
        }
    }
}

/// The output-relative path of a file named on the command line.
fn given_relative(path: &Path) -> PathBuf {
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        path.components().collect()
    } else {
        path.file_name()
            .map_or_else(|| path.to_path_buf(), PathBuf::from)
    }
}

/// The output path of each input under `dir`, its extension replaced by `extension`. Refused:
/// stdin (it has no name), two inputs that would write the same file, and an output that would
/// overwrite its own input.
pub fn output_paths(inputs: &[Input], dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let usage = |m: String| Error::Usage(format!("--output-dir {}: {m}", dir.display()));
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut paths = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Some(rel) = &input.relative else {
            return Err(usage(
                "standard input has no file name to write under it (name the input files)".into(),
            ));
        };
        let path = dir.join(rel).with_extension(extension);
        let name = input.source.name();
        if let Some(other) = seen.insert(path.clone(), name.clone()) {
            return Err(usage(format!(
                "{other} and {name} would both be written to {}",
                path.display()
            )));
        }
        paths.push(path);
    }
    if let Some((input, output)) = overwritten(inputs, &paths) {
        let own = inputs
            .iter()
            .zip(&paths)
            .any(|(i, p)| i.source.name() == input && p == output);
        return Err(usage(match own {
            true => format!("{input} would be overwritten by its own output"),
            false => format!(
                "{input} would be overwritten by the output {}",
                output.display()
            ),
        }));
    }
    Ok(paths)
}

/// What identifies a file whatever its name (a symbolic or hard link to it included): its
/// device and inode.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The file standard input is redirected from (`< FILE`), when it is a regular file.
#[cfg(unix)]
fn stdin_id() -> Option<FileId> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let m = std::fs::File::from(fd).metadata().ok()?;
    m.is_file().then(|| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.canonicalize().ok()?.hash(&mut h);
    Some((0, h.finish()))
}

#[cfg(not(unix))]
fn stdin_id() -> Option<FileId> {
    None
}

/// The first output (of the regular files that exist) that is one of the inputs — the same file under any
/// name — with the input's name, or `None`. An input stat'ed only when some output exists.
pub fn overwritten<'p>(inputs: &[Input], outputs: &'p [PathBuf]) -> Option<(String, &'p Path)> {
    // (A device such as /dev/null or a terminal is no file to overwrite.)
    let outs: Vec<(FileId, &Path)> = outputs
        .iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .filter_map(|p| Some((file_id(p)?, p.as_path())))
        .collect();
    if outs.is_empty() {
        return None;
    }
    let mut ins: HashMap<FileId, String> = HashMap::new();
    for input in inputs {
        let id = match &input.source {
            Source::File(p) => file_id(p),
            Source::Stdin => stdin_id(),
            _ => None,
        };
        if let Some(id) = id {
            ins.entry(id).or_insert_with(|| input.source.name());
        }
    }
    outs.into_iter()
        .find_map(|(id, out)| Some((ins.get(&id)?.clone(), out)))
}

/// Whether two paths name one file: the same file when both exist, else the same absolute path.
pub fn same_path(a: &Path, b: &Path) -> bool {
    match (file_id(a), file_id(b)) {
        (Some(x), Some(y)) => x == y,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

/// Refuses (a usage error, nothing touched) an output file that is one of the inputs under any
/// name — the same file, a symbolic or a hard link to it, or the file stdin is redirected from —
/// and `--stats-json` naming a file the records are written to.
pub fn refuse_overwrites(inputs: &[Input], target: &Target, stats: Option<&Path>) -> Result<()> {
    let usage = Error::Usage;
    let records: &[PathBuf] = match target {
        Target::File(p) => std::slice::from_ref(p),
        Target::PerSource(paths) => paths,
        Target::Stdout => &[],
    };
    // (--output-dir's files are checked where their paths are made.)
    if let Target::File(out) = target {
        if let Some((input, _)) = overwritten(inputs, records) {
            return Err(usage(format!(
                "--output {}: it is the input {input}; refusing to write over it",
                out.display()
            )));
        }
    }
    if let Some(stats) = stats {
        if let Some((input, _)) = overwritten(inputs, std::slice::from_ref(&stats.to_path_buf())) {
            return Err(usage(format!(
                "--stats-json {}: it is the input {input}; refusing to write over it",
                stats.display()
            )));
        }
        let device = std::fs::metadata(stats).is_ok_and(|m| !m.is_file());
        if let Some(out) = records.iter().find(|p| !device && same_path(stats, p)) {
            return Err(usage(format!(
                "--stats-json {}: the records are written to {}; name another file",
                stats.display(),
                out.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(inputs: &[Input]) -> Vec<String> {
        inputs
            .iter()
            .map(|i| i.relative.as_ref().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn walks_sorted_skipping_hidden_and_the_output_dir() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("corpus");
        for f in [
            "b.txt",
            "a/z.txt",
            "a/c.txt",
            ".hidden.txt",
            ".git/x.txt",
            "out/old.jsonl",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        let args = [root.clone()];
        let inputs = collect(&args, true, Some(&root.join("out"))).unwrap();
        assert_eq!(names(&inputs), ["a/c.txt", "a/z.txt", "b.txt"]);
        // Not recursive: the folder is an input of its own, which the reader reports.
        assert_eq!(collect(&args, false, None).unwrap().len(), 1);
        assert!(
            collect(&args, true, Some(&root)).is_err(),
            "output dir = a walked folder"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("c");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/t.txt"), "x\n").unwrap();
        std::os::unix::fs::symlink(&root, root.join("sub/back")).unwrap();
        let inputs = collect(&[&root], true, None).unwrap();
        assert_eq!(names(&inputs), ["sub/t.txt"]);
    }

    #[test]
    fn output_paths_replace_the_extension_and_refuse_clashes() {
        let inputs = collect(&["a/b.txt", "c", "/abs/d.txt"], false, None).unwrap();
        let out = output_paths(&inputs, Path::new("out"), "jsonl").unwrap();
        let out: Vec<_> = out.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(out, ["out/a/b.jsonl", "out/c.jsonl", "out/d.jsonl"]);
        let clash = ["x/a.txt", "../y/a.txt", "x/a.md"];
        let clash = collect(&clash, false, None).unwrap();
        let e = output_paths(&clash, Path::new("o"), "jsonl").unwrap_err();
        assert!(e.to_string().contains("x/a.txt and x/a.md"), "{e}");
        let stdin = collect::<&str>(&[], false, None).unwrap();
        assert!(output_paths(&stdin, Path::new("o"), "jsonl").is_err());
    }

    #[test]
    fn an_output_never_overwrites_its_input() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.jsonl");
        std::fs::write(&f, "{}\n").unwrap();
        let inputs = collect(&[d.path()], true, None).unwrap();
        let e = output_paths(&inputs, d.path(), "jsonl").unwrap_err();
        assert!(
            e.to_string().contains("overwritten by its own output"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_output_is_an_input_by_any_name() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("in.txt");
        std::fs::write(&input, "x\n").unwrap();
        let hard = d.path().join("hard.txt");
        let soft = d.path().join("soft.txt");
        std::fs::hard_link(&input, &hard).unwrap();
        std::os::unix::fs::symlink(&input, &soft).unwrap();
        let inputs = collect(&[&input], false, None).unwrap();
        for out in [&input, &hard, &soft] {
            let (name, _) = overwritten(&inputs, std::slice::from_ref(out)).expect("refused");
            assert_eq!(name, input.display().to_string());
        }
        let other = d.path().join("out.jsonl");
        assert!(
            overwritten(&inputs, std::slice::from_ref(&other)).is_none(),
            "missing"
        );
        std::fs::write(&other, "").unwrap();
        assert!(
            overwritten(&inputs, std::slice::from_ref(&other)).is_none(),
            "another file"
        );
        assert!(same_path(&soft, &hard) && !same_path(&other, &input));
    }
}
