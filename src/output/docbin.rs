//! Output stage, spaCy DocBin printer (`-f spacy`): one `.spacy` file that
//! `spacy.tokens.DocBin().from_disk(path)` reads, a `Doc` per record with `doc.ents` equal to
//! ner-tag's entities snapped to the record's tokens as `-f spans` snaps them
//! (`Doc.char_span(…, alignment_mode="expand")`, non-overlapping, the more confident kept).
//!
//! The format is spaCy's `DocBin.to_bytes` (spacy/tokens/_serialize.py): zlib of one msgpack map
//! — `attrs` (ORTH, ENT_IOB, ENT_TYPE), `tokens` (those three columns as little-endian u64 per
//! token: the text's and the label's StringStore ids — spaCy's symbol id for its fixed strings,
//! else MurmurHash64A with seed 1 — and the IOB code), `spaces`, `lengths` (i32 per doc), the sorted `strings`, empty `cats`/`span_groups`,
//! `flags` and `user_data` (per doc, msgpack `{"file", "line"}`, plus `"error"` for a record
//! that could not be tagged — an empty Doc: nothing is dropped). The whole file is one
//! compressed block, so it is written at the end of the run (or of each input with
//! `--output-dir`); `--resume` cannot append to it and is refused.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::OnceLock;

use super::spacy_symbols::SYMBOLS;
use super::spans::{snap_record, tokens};
use super::{char_to_byte, ErrorRecord, Printer, Sink, TaggedRecord};
use crate::decode::Aggregation;
use crate::error::Result;

/// spaCy's attribute ids (spacy/attrs.pxd): the columns written, in DocBin's order (ORTH first,
/// then sorted).
const ORTH: u64 = 65;
const ENT_IOB: u64 = 77;
const ENT_TYPE: u64 = 78;
/// `Token.ent_iob` codes: inside, outside, beginning.
const IOB_I: u64 = 1;
const IOB_O: u64 = 2;
const IOB_B: u64 = 3;

/// The id spaCy's StringStore gives `s`: its symbol id for one of spaCy's fixed strings
/// ([`SYMBOLS`]: `LOC` is 385, `""` is 0), else [`hash_string`].
pub fn string_id(s: &str) -> u64 {
    static IDS: OnceLock<HashMap<&'static str, u64>> = OnceLock::new();
    let ids = IDS.get_or_init(|| {
        SYMBOLS
            .iter()
            .enumerate()
            .map(|(i, &n)| (n, i as u64))
            .collect()
    });
    ids.get(s).copied().unwrap_or_else(|| hash_string(s))
}

/// spaCy's `hash_string`: MurmurHash64A of the UTF-8 bytes, seed 1.
pub fn hash_string(s: &str) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let key = s.as_bytes();
    let mut h = 1u64 ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

pub struct DocBin<W: Write> {
    sink: Sink<W>,
    aggregation: Aggregation,
    /// Per token: ORTH, ENT_IOB, ENT_TYPE, little-endian.
    tokens: Vec<u8>,
    spaces: Vec<u8>,
    lengths: Vec<u8>,
    strings: BTreeSet<String>,
    /// Per doc, its msgpack-encoded user data.
    user_data: Vec<Vec<u8>>,
}

impl<W: Write> DocBin<W> {
    pub fn new(sink: Sink<W>, aggregation: Aggregation) -> Self {
        let mut strings = BTreeSet::new();
        // What DocBin.add collects for every token's unset tag, lemma, morph, entity type…
        strings.insert(String::new());
        Self {
            sink,
            aggregation,
            tokens: Vec::new(),
            spaces: Vec::new(),
            lengths: Vec::new(),
            strings,
            user_data: Vec::new(),
        }
    }

    fn push_user_data(&mut self, file: Option<&str>, line: usize, error: Option<&str>) {
        let mut m = Vec::new();
        let n = 1 + u32::from(file.is_some()) + u32::from(error.is_some());
        // Writes to a Vec cannot fail.
        let _ = rmp::encode::write_map_len(&mut m, n);
        if let Some(f) = file {
            let _ = rmp::encode::write_str(&mut m, "file");
            let _ = rmp::encode::write_str(&mut m, f);
        }
        let _ = rmp::encode::write_str(&mut m, "line");
        let _ = rmp::encode::write_uint(&mut m, line as u64);
        if let Some(e) = error {
            let _ = rmp::encode::write_str(&mut m, "error");
            let _ = rmp::encode::write_str(&mut m, e);
        }
        self.user_data.push(m);
    }

    /// The msgpack map of `DocBin.to_bytes`, before compression.
    fn message(&self) -> Vec<u8> {
        use rmp::encode::*;
        let docs = self.user_data.len() as u32;
        let mut m = Vec::with_capacity(self.tokens.len() + self.strings.len() * 8 + 256);
        let _ = write_map_len(&mut m, 10);
        let _ = write_str(&mut m, "version");
        let _ = write_str(&mut m, "0.1");
        let _ = write_str(&mut m, "attrs");
        let _ = write_array_len(&mut m, 3);
        for a in [ORTH, ENT_IOB, ENT_TYPE] {
            let _ = write_uint(&mut m, a);
        }
        for (key, bytes) in [
            ("tokens", &self.tokens),
            ("spaces", &self.spaces),
            ("lengths", &self.lengths),
        ] {
            let _ = write_str(&mut m, key);
            let _ = write_bin(&mut m, bytes);
        }
        let _ = write_str(&mut m, "strings");
        let _ = write_array_len(&mut m, self.strings.len() as u32);
        for s in &self.strings {
            let _ = write_str(&mut m, s);
        }
        let _ = write_str(&mut m, "cats");
        let _ = write_array_len(&mut m, docs);
        for _ in 0..docs {
            let _ = write_map_len(&mut m, 0);
        }
        let _ = write_str(&mut m, "flags");
        let _ = write_array_len(&mut m, docs);
        for _ in 0..docs {
            let _ = write_map_len(&mut m, 1);
            let _ = write_str(&mut m, "has_unknown_spaces");
            let _ = write_bool(&mut m, false);
        }
        let _ = write_str(&mut m, "span_groups");
        let _ = write_array_len(&mut m, docs);
        for _ in 0..docs {
            let _ = write_bin(&mut m, &[]);
        }
        let _ = write_str(&mut m, "user_data");
        let _ = write_array_len(&mut m, docs);
        for u in &self.user_data {
            let _ = write_bin(&mut m, u);
        }
        m
    }
}

impl<W: Write> Printer for DocBin<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        let bytes = char_to_byte(rec.text);
        let chars: Vec<char> = rec.text.chars().collect();
        let toks = tokens(&chars, rec.words);
        let mut iob = vec![(IOB_O, 0u64); toks.len()];
        for s in snap_record(rec, &toks, self.aggregation) {
            let h = string_id(&s.label);
            for (i, slot) in iob[s.token_start..=s.token_end].iter_mut().enumerate() {
                *slot = (if i == 0 { IOB_B } else { IOB_I }, h);
            }
            self.strings.insert(s.label);
        }
        for (t, (code, label)) in toks.iter().zip(iob) {
            let text = &rec.text[bytes.at(t.start)..bytes.at(t.end)];
            for v in [string_id(text), code, label] {
                self.tokens.extend_from_slice(&v.to_le_bytes());
            }
            self.spaces.push(u8::from(t.ws));
            if !self.strings.contains(text) {
                self.strings.insert(text.to_string());
            }
        }
        self.lengths
            .extend_from_slice(&(toks.len() as i32).to_le_bytes());
        self.push_user_data(rec.file, rec.line, None);
        Ok(())
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        self.lengths.extend_from_slice(&0i32.to_le_bytes());
        self.push_user_data(err.file, err.line, Some(err.msg));
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        // Nothing is written before the end: the file is one compressed block.
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let msg = self.message();
        self.sink.emit(|buf| {
            let mut z = flate2::write::ZlibEncoder::new(buf, flate2::Compression::default());
            z.write_all(&msg)?;
            z.finish().map(|_| ())
        })?;
        self.sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from `spacy.strings.hash_string` (spaCy 3.8).
    #[test]
    fn hashes_are_spacys() {
        for (s, h) in [
            ("", 14313749767032693980u64),
            ("a", 11901859001352538922),
            ("Berlin", 14607853860610250682),
            ("PER", 4317129024397789502),
            ("Zürich", 9452955988637137518),
            ("東京", 9360021637096476946),
            ("😀x", 4831281948750627011),
            ("abcdefgh", 17751780907874141760),
            ("abcdefghi", 13885881106499164936),
        ] {
            assert_eq!(hash_string(s), h, "{s:?}");
        }
        // `spacy.blank("en").vocab.strings.add(…)`: symbols keep their fixed ids.
        assert_eq!(string_id(""), 0);
        assert_eq!(string_id("LOC"), 385);
        assert_eq!(string_id("ORTH"), 65);
        assert_eq!(string_id("PER"), 4317129024397789502);
        assert_eq!(string_id("MISC"), 7654241940133152407);
    }
}
