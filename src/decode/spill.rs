//! Decode stage, an enormous line's entities: appended as they settle in a compact binary form
//! (22 bytes each), in memory up to [`MEM_BYTES`], then in an anonymous temporary file, and
//! read back once, in order, by the printer — so a line of 100 MB with millions of entities
//! holds its text and a fixed buffer, not a `Vec<Entity>` of ~50 bytes per entity.
//!
//! The temporary file is `tempfile::tempfile()` (in `$TMPDIR`, unlinked at creation: nothing
//! is left behind, even when the process is killed).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use super::Entity;
use crate::error::{Error, Result};

/// Bytes of entities held in memory before they go to the temporary file.
pub const MEM_BYTES: usize = 1 << 20;

/// One entity: start, end (u64), score (f32 bits), label (index into the spill's labels).
const RECORD: usize = 8 + 8 + 4 + 2;

/// A line's entities in order, in memory and, past [`MEM_BYTES`], in a temporary file.
#[derive(Default)]
pub struct EntitySpill {
    labels: Vec<String>,
    mem: Vec<u8>,
    file: Option<File>,
    len: usize,
}

impl EntitySpill {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some entities went to the temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    pub fn push(&mut self, e: &Entity) -> Result<()> {
        let label = match self.labels.iter().position(|l| *l == e.label) {
            Some(i) => i,
            None => {
                self.labels.push(e.label.clone());
                self.labels.len() - 1
            }
        };
        let label = u16::try_from(label)
            .map_err(|_| Error::Usage("more than 65,536 entity labels in one line".into()))?;
        self.mem.extend_from_slice(&(e.start as u64).to_le_bytes());
        self.mem.extend_from_slice(&(e.end as u64).to_le_bytes());
        self.mem.extend_from_slice(&e.score.to_bits().to_le_bytes());
        self.mem.extend_from_slice(&label.to_le_bytes());
        self.len += 1;
        if self.mem.len() >= MEM_BYTES {
            self.write_out().map_err(spill_error)?;
        }
        Ok(())
    }

    pub fn extend<'e>(&mut self, entities: impl IntoIterator<Item = &'e Entity>) -> Result<()> {
        entities.into_iter().try_for_each(|e| self.push(e))
    }

    fn write_out(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&self.mem)?;
        self.mem.clear();
        Ok(())
    }

    /// Every entity, in the order pushed. Reading consumes the spill.
    pub fn into_entities(self) -> Result<SpillReader> {
        let file = match self.file {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0)).map_err(spill_error)?;
                Some(BufReader::with_capacity(64 << 10, f))
            }
            None => None,
        };
        Ok(SpillReader {
            labels: self.labels,
            file,
            mem: self.mem,
            at: 0,
            left: self.len,
        })
    }

    /// Every entity in a `Vec` (for printers that need them all at once).
    pub fn into_vec(self) -> Result<Vec<Entity>> {
        self.into_entities()?.collect()
    }
}

fn spill_error(e: io::Error) -> Error {
    Error::io(
        "the temporary file holding a long line's entities ($TMPDIR)",
        e,
    )
}

/// The entities of an [`EntitySpill`], read back in order.
pub struct SpillReader {
    labels: Vec<String>,
    file: Option<BufReader<File>>,
    mem: Vec<u8>,
    at: usize,
    left: usize,
}

impl SpillReader {
    fn next_record(&mut self) -> io::Result<[u8; RECORD]> {
        let mut rec = [0u8; RECORD];
        if let Some(f) = &mut self.file {
            match f.read_exact(&mut rec) {
                Ok(()) => return Ok(rec),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => self.file = None,
                Err(e) => return Err(e),
            }
        }
        let bytes = self.mem.get(self.at..self.at + RECORD).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entities missing from the spill",
            )
        })?;
        rec.copy_from_slice(bytes);
        self.at += RECORD;
        Ok(rec)
    }
}

impl Iterator for SpillReader {
    type Item = Result<Entity>;

    fn next(&mut self) -> Option<Result<Entity>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let rec = match self.next_record() {
            Ok(r) => r,
            Err(e) => {
                self.left = 0;
                return Some(Err(spill_error(e)));
            }
        };
        let u64_at = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().expect("8 bytes"));
        let label = u16::from_le_bytes([rec[20], rec[21]]) as usize;
        Some(Ok(Entity {
            label: self.labels[label].clone(),
            start: u64_at(0) as usize,
            end: u64_at(8) as usize,
            score: f32::from_bits(u32::from_le_bytes(rec[16..20].try_into().expect("4 bytes"))),
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(i: usize) -> Entity {
        Entity {
            label: ["PER", "LOC", "ORG", "MISC"][i % 4].to_string(),
            start: i * 7,
            end: i * 7 + 1 + i % 5,
            score: 1.0 / (i as f32 + 1.5),
        }
    }

    #[test]
    fn entities_come_back_in_order_from_memory_and_from_the_file() {
        for n in [
            0,
            1,
            3,
            MEM_BYTES / RECORD,
            MEM_BYTES / RECORD + 1,
            3 * MEM_BYTES / RECORD + 7,
        ] {
            let want: Vec<Entity> = (0..n).map(entity).collect();
            let mut spill = EntitySpill::new();
            spill.extend(&want).unwrap();
            assert_eq!(spill.len(), n);
            assert_eq!(spill.spilled(), n * RECORD >= MEM_BYTES, "n = {n}");
            let got = spill.into_vec().unwrap();
            assert_eq!(got.len(), n);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!((&g.label, g.start, g.end), (&w.label, w.start, w.end));
                assert_eq!(g.score.to_bits(), w.score.to_bits());
            }
        }
    }
}
