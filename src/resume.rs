//! Output stage, resuming: where a killed run's output file stops — how many whole records it
//! holds and where the last one ends — so `--resume` cuts a torn tail and tags on from there.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::output::Format;

/// The whole records at the start of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Done {
    /// Records complete in the file.
    pub records: usize,
    /// Bytes they take; anything after is a torn record, cut before appending.
    pub bytes: u64,
}

/// Scans output written in `format`: a JSONL record is one line; a CoNLL record (a sentence, an
/// empty record, or an error comment) ends with an empty line.
pub fn complete_records(bytes: &[u8], format: Format) -> Done {
    let mut done = Done::default();
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'\n' {
            continue;
        }
        let ends_record = match format {
            // (HTML is refused with --resume at the command line: a page has a head and a foot.)
            Format::Jsonl | Format::Html => true,
            Format::Conll => i == line_start,
        };
        if ends_record {
            done.records += 1;
            done.bytes = i as u64 + 1;
        }
        line_start = i + 1;
    }
    done
}

/// Opens `path` for the run: from scratch, or with `resume` after its complete records (the torn
/// tail cut off). Returns the file, positioned at its end, and the records already done.
pub fn open_output(path: &Path, format: Format, resume: bool) -> Result<(std::fs::File, Done)> {
    let io = |e| Error::io(path.display(), e);
    if !resume || !path.exists() {
        return Ok((std::fs::File::create(path).map_err(io)?, Done::default()));
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    let done = complete_records(&bytes, format);
    file.set_len(done.bytes).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io)?;
    Ok((file, done))
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
    fn conll_records_end_with_an_empty_line() {
        let out = b"EU\tB-ORG\nrejects\tO\n\n\n# error: 3: bad\n\nParis\tB-LOC\n";
        let d = complete_records(out, Format::Conll);
        // A sentence, an empty record, an error record; the last sentence is torn.
        assert_eq!(d.records, 3);
        assert_eq!(d.bytes as usize, out.len() - b"Paris\tB-LOC\n".len());
    }
}
