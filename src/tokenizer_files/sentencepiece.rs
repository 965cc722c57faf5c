//! Tokenizer-files stage, SentencePiece: a checked reader of the `.model` protobuf (`ModelProto`).
//!
//! Only the fields the `transformers` conversions use are kept: the pieces (text, score, type),
//! `trainer_spec` (model type, unk id, byte fallback) and `normalizer_spec` (the precompiled
//! charsmap). Every length, varint and wire type is checked; a malformed file is an error naming
//! the byte where reading stopped, never a panic. The charsmap's trie is walked once so the
//! `Precompiled` normalizer cannot index outside it while tokenizing.

/// What a piece is to SentencePiece (`SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Debug, Clone)]
pub struct Piece {
    pub piece: String,
    pub score: f32,
    pub kind: PieceType,
}

/// The parts of a SentencePiece model the tokenizer is built from.
#[derive(Debug, Clone)]
pub struct SpModel {
    pub pieces: Vec<Piece>,
    /// `trainer_spec.model_type`: 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    pub unk_id: u64,
    pub byte_fallback: bool,
    /// `normalizer_spec.precompiled_charsmap`, empty when the model has none.
    pub precompiled_charsmap: Vec<u8>,
}

/// Parses the bytes of a `.model` file.
pub fn parse(bytes: &[u8]) -> Result<SpModel, String> {
    let mut model = SpModel {
        pieces: Vec::new(),
        model_type: 1,
        unk_id: 0,
        byte_fallback: false,
        precompiled_charsmap: Vec::new(),
    };
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => model.pieces.push(piece(r.bytes()?)?),
            (2, LEN) => trainer_spec(r.bytes()?, &mut model)?,
            (3, LEN) => normalizer_spec(r.bytes()?, &mut model)?,
            (1..=3, _) => return Err(format!("field {field} has wire type {wire}")),
            _ => r.skip(wire)?,
        }
    }
    if model.pieces.is_empty() {
        return Err("no pieces: not a SentencePiece model".into());
    }
    if model.unk_id as usize >= model.pieces.len() {
        return Err(format!(
            "unk_id {} is not one of the {} pieces",
            model.unk_id,
            model.pieces.len()
        ));
    }
    if !model.precompiled_charsmap.is_empty() {
        check_charsmap(&model.precompiled_charsmap)
            .map_err(|e| format!("precompiled_charsmap: {e}"))?;
    }
    Ok(model)
}

fn piece(bytes: &[u8]) -> Result<Piece, String> {
    let mut p = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, LEN) => {
                p.piece = String::from_utf8(r.bytes()?.to_vec())
                    .map_err(|_| "a piece is not valid UTF-8".to_string())?
            }
            (2, I32) => p.score = f32::from_le_bytes(r.fixed::<4>()?),
            (3, VARINT) => {
                p.kind = match r.varint()? {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    t => return Err(format!("piece type {t} is not a SentencePiece type")),
                }
            }
            (1..=3, _) => return Err(format!("piece field {field} has wire type {wire}")),
            _ => r.skip(wire)?,
        }
    }
    if p.piece.is_empty() {
        return Err("a piece is empty".into());
    }
    if !p.score.is_finite() {
        return Err(format!("piece {:?} has score {}", p.piece, p.score));
    }
    Ok(p)
}

fn trainer_spec(bytes: &[u8], model: &mut SpModel) -> Result<(), String> {
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (3, VARINT) => model.model_type = r.varint()?,
            (35, VARINT) => model.byte_fallback = r.varint()? != 0,
            // int32: a negative id is sign-extended to ten bytes, and no piece has it
            (40, VARINT) => model.unk_id = r.varint()?,
            (3 | 35 | 40, _) => {
                return Err(format!("trainer_spec field {field} has wire type {wire}"))
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn normalizer_spec(bytes: &[u8], model: &mut SpModel) -> Result<(), String> {
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (2, LEN) => model.precompiled_charsmap = r.bytes()?.to_vec(),
            (2, _) => return Err(format!("normalizer_spec field 2 has wire type {wire}")),
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// A protobuf wire-format cursor over one message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let start = self.pos;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(format!("truncated varint at byte {start}"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(format!("varint at byte {start} overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint at byte {start} is longer than 10 bytes"))
    }

    /// The next field number and wire type, None at the end of the message.
    fn key(&mut self) -> Result<Option<(u64, u8)>, String> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let key = self.varint()?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        if field == 0 {
            return Err(format!("field number 0 at byte {at}"));
        }
        Ok(Some((field, wire)))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!(
                "{n}-byte field at byte {} runs past the end ({left} bytes left)",
                self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(n)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            I32 => self.take(4).map(drop),
            w => Err(format!("wire type {w} at byte {}", self.pos)),
        }
    }
}

/// Checks the double-array trie of a precompiled charsmap the way `spm_precompiled` reads it
/// (`[u32 trie size][trie units][normalized strings]`): from every node reachable from the root,
/// each byte 1..=255 must land inside the array, and every leaf must point at the start of a
/// character of the normalized strings.
fn check_charsmap(map: &[u8]) -> Result<(), String> {
    if map.len() < 4 {
        return Err("shorter than its 4-byte header".into());
    }
    let size = u32::from_le_bytes([map[0], map[1], map[2], map[3]]) as usize;
    let units = size / 4;
    if map.len() - 4 < units * 4 {
        return Err(format!(
            "trie of {size} bytes but {} bytes follow",
            map.len() - 4
        ));
    }
    if units == 0 {
        return Err("empty trie".into());
    }
    let unit = |i: usize| {
        let b = &map[4 + 4 * i..8 + 4 * i];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let normalized = std::str::from_utf8(&map[4 + units * 4..])
        .map_err(|_| "normalized strings are not UTF-8".to_string())?;
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);
    let label = |u: usize| u & ((1 << 31) | 0xff);
    let has_leaf = |u: usize| (u >> 8) & 1 == 1;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![offset(unit(0))];
    while let Some(base) = stack.pop() {
        if !seen.insert(base) {
            continue;
        }
        for c in 1..=255usize {
            let at = base ^ c;
            if at >= units {
                return Err(format!("trie node {at} is outside its {units} units"));
            }
            let u = unit(at);
            if label(u) != c {
                continue;
            }
            let next = at ^ offset(u);
            if has_leaf(u) {
                if next >= units {
                    return Err(format!("trie leaf {next} is outside its {units} units"));
                }
                let value = unit(next) & ((1 << 31) - 1);
                if value > normalized.len() || !normalized.is_char_boundary(value) {
                    return Err(format!(
                        "trie value {value} is not a character of the table"
                    ));
                }
            }
            stack.push(next);
        }
    }
    Ok(())
}
