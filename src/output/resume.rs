//! Output stage, resuming: where a killed run's output file stops — how many whole records it
//! holds and where the last one ends — so `--resume` cuts a torn tail and tags on from there.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::Format;
use crate::error::{Error, Result};

/// The whole records at the start of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Done {
    /// Records complete in the file.
    pub records: usize,
    /// Bytes they take; anything after is a torn record, cut before appending.
    pub bytes: u64,
}

/// Counts whole records as output bytes go by: a JSONL record is one line; a CoNLL record (a
/// sentence, an empty record, or an error comment) ends with an empty line.
struct Scanner {
    format: Format,
    done: Done,
    /// Offset of the next byte, and of the current line's start.
    at: u64,
    line_start: u64,
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b != b'\n' {
                continue;
            }
            let pos = self.at + i as u64;
            let ends_record = match self.format {
                // (HTML and DocBin are refused with --resume at the command line: a page has a
                // head and a foot, a .spacy file is one compressed block.)
                Format::Jsonl
                | Format::Html
                | Format::Spacy
                | Format::Redact
                | Format::LabelStudio
                | Format::Spans => true,
                Format::Conll => pos == self.line_start,
            };
            if ends_record {
                self.done.records += 1;
                self.done.bytes = pos + 1;
            }
            self.line_start = pos + 1;
        }
        self.at += bytes.len() as u64;
    }
}

/// The whole records of output bytes written in `format`.
pub fn complete_records(bytes: &[u8], format: Format) -> Done {
    let mut s = Scanner {
        format,
        done: Done::default(),
        at: 0,
        line_start: 0,
    };
    s.feed(bytes);
    s.done
}

/// The whole records an existing output file holds (none when there is no such file), read in
/// blocks so a large output is never held in memory.
pub fn existing(path: &Path, format: Format) -> Result<Done> {
    match std::fs::File::open(path) {
        Ok(mut f) => records_in(&mut f, path, format),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Done::default()),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

/// The whole records of an open output file (a locked one: `--resume` reads under the lock),
/// read from its start in blocks.
pub fn records_in(file: &mut std::fs::File, path: &Path, format: Format) -> Result<Done> {
    let io = |e| Error::io(path.display(), e);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut s = Scanner {
        format,
        done: Done::default(),
        at: 0,
        line_start: 0,
    };
    let mut block = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(io)?;
        if n == 0 {
            return Ok(s.done);
        }
        s.feed(&block[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_counts_whole_lines_and_cuts_a_torn_one() {
        let d = complete_records(b"{\"a\":1}\n{\"b\":2}\n{\"c\":", Format::Jsonl);
        assert_eq!(
            d,
            Done {
                records: 2,
                bytes: 16
            }
        );
        assert_eq!(complete_records(b"", Format::Jsonl), Done::default());
        assert_eq!(complete_records(b"{}\n", Format::Jsonl).records, 1);
    }

    #[test]
    fn scanning_in_blocks_agrees_with_one_pass() {
        let out = b"EU\tB-ORG\n\n\n# error: 3: bad\n\nParis\tB-LOC\n".repeat(3);
        for format in [Format::Jsonl, Format::Conll] {
            let whole = complete_records(&out, format);
            for cut in 0..out.len() {
                let mut s = Scanner {
                    format,
                    done: Done::default(),
                    at: 0,
                    line_start: 0,
                };
                s.feed(&out[..cut]);
                s.feed(&out[cut..]);
                assert_eq!(s.done, whole, "cut at {cut}");
            }
        }
    }

    #[test]
    fn reopening_cuts_the_torn_tail_and_appends() {
        use super::super::lock;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        assert_eq!(existing(&path, Format::Jsonl).unwrap(), Done::default());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let mut f = lock::lock(&path).unwrap().file;
        let done = records_in(&mut f, &path, Format::Jsonl).unwrap();
        assert_eq!(done, existing(&path, Format::Jsonl).unwrap());
        assert_eq!(done.records, 1);
        lock::cut(&mut f, done.bytes, &path).unwrap();
        std::io::Write::write_all(&mut f, b"{\"b\":2}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        drop(f);
        let mut f = lock::lock(&path).unwrap().file;
        lock::cut(&mut f, 0, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn conll_records_end_with_an_empty_line() {
        let out = b"EU\tB-ORG\nrejects\tO\n\n\n# error: 3: bad\n\nParis\tB-LOC\n";
        let d = complete_records(out, Format::Conll);
        // A sentence, an empty record, an error record; the last sentence is torn.
        assert_eq!(d.records, 3);
        assert_eq!(d.bytes as usize, out.len() - b"Paris\tB-LOC\n".len());
    }
}
