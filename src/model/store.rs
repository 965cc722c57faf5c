//! Model stage: the native backend's weight store. Safetensors are read directly — each encoder
//! tensor copied once into f32, the word-embedding table left in place in a read-only memory map
//! (in its stored f32/f16/bf16) so a lookup touches only the rows it gathers. Any other checkpoint
//! (`pytorch_model.bin`) goes through candle's readers as f32 copies.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use memmap2::Mmap;

type Res<T> = std::result::Result<T, String>;

thread_local! {
    /// Raw bytes of the tensor being read, reused from one tensor to the next.
    static BYTES: std::cell::RefCell<Vec<u8>> = Default::default();
}

/// Element types the store converts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    F16,
    Bf16,
}

impl Elem {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "F32" => Some(Self::F32),
            "F16" => Some(Self::F16),
            "BF16" => Some(Self::Bf16),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            _ => 2,
        }
    }

    /// Converts the little-endian values of `bytes` into `dst` (one value per element of `dst`).
    fn convert(self, bytes: &[u8], dst: &mut [f32]) {
        match self {
            Self::F32 => {
                for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
                    *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Self::F16 => {
                for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
                    *d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Self::Bf16 => {
                for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
                    *d = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
        }
    }
}

pub struct Entry {
    file: usize,
    elem: Option<Elem>,
    dtype: String,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

/// An embedding table: owned f32 rows, or rows read in place from a memory-mapped file or the
/// bytes of the built-in model.
pub enum Table {
    Owned(Vec<f32>),
    Mapped {
        map: Bytes,
        start: usize,
        elem: Elem,
        cols: usize,
    },
}

/// Bytes a table reads its rows from.
#[derive(Clone)]
pub enum Bytes {
    Map(Arc<Mmap>),
    Static(&'static [u8]),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Static(b) => b,
        }
    }
}

/// Where a safetensors file's bytes are.
pub enum Source {
    File(PathBuf),
    Static(&'static [u8]),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Static(_) => super::weights::BUILT_IN_WEIGHTS.to_string(),
        }
    }
}

impl Table {
    /// `dst = row` of the table, as f32.
    #[inline]
    pub fn copy_row(&self, row: usize, dst: &mut [f32]) {
        match self {
            Self::Owned(v) => dst.copy_from_slice(&v[row * dst.len()..(row + 1) * dst.len()]),
            Self::Mapped {
                map,
                start,
                elem,
                cols,
            } => {
                let size = elem.size() * cols;
                elem.convert(&map[start + row * size..start + (row + 1) * size], dst);
            }
        }
    }
}

pub enum Store {
    Safetensors {
        sources: Vec<Source>,
        entries: HashMap<String, Entry>,
        maps: Vec<std::sync::OnceLock<Arc<Mmap>>>,
    },
    Candle(VarBuilder<'static>),
}

impl Store {
    /// Reads the headers of safetensors files or bytes, checked by [`super::weights::read_header`]
    /// (every tensor's byte range inside its file and, for dtypes of known size, as long as its
    /// shape × dtype size), so an error names the file it is about, shard or not.
    pub fn safetensors(sources: Vec<Source>) -> crate::Result<Self> {
        use crate::Error;
        let mut entries = HashMap::new();
        for (i, src) in sources.iter().enumerate() {
            let name = src.name();
            let (mut f, len): (Box<dyn Read>, u64) = match src {
                Source::File(p) => {
                    let f = File::open(p).map_err(|e| Error::model_file(p, e))?;
                    let len = f.metadata().map_err(|e| Error::model_file(p, e))?.len();
                    (Box::new(f), len)
                }
                Source::Static(b) => (Box::new(std::io::Cursor::new(*b)), b.len() as u64),
            };
            let specs = super::weights::read_header(std::path::Path::new(&name), &mut f, len)?;
            for t in specs {
                entries.insert(
                    t.name,
                    Entry {
                        file: i,
                        elem: Elem::parse(&t.dtype),
                        dtype: t.dtype,
                        shape: t.shape,
                        start: t.start,
                        end: t.end,
                    },
                );
            }
        }
        Ok(Self::Safetensors {
            maps: sources.iter().map(|_| Default::default()).collect(),
            sources,
            entries,
        })
    }

    /// Any checkpoint candle can open, read as f32.
    pub fn candle(files: &super::WeightFiles) -> crate::Result<Self> {
        Ok(Self::Candle(files.var_builder(DType::F32, &Device::Cpu)?))
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Safetensors { entries, .. } => entries.contains_key(name),
            Self::Candle(vb) => vb.contains_tensor(name),
        }
    }

    fn entry(&self, name: &str, shape: &[usize]) -> Res<&Entry> {
        let Self::Safetensors { entries, .. } = self else {
            unreachable!()
        };
        let e = entries
            .get(name)
            .ok_or_else(|| format!("cannot find tensor {name}"))?;
        if e.shape != shape {
            return Err(format!(
                "shape mismatch for {name}, expected {shape:?}, got {:?}",
                e.shape
            ));
        }
        let elem = e.elem.ok_or_else(|| {
            format!(
                "tensor {name} is stored as {}, expected F32, F16 or BF16",
                e.dtype
            )
        })?;
        // Checked when the header was read (`read_header`); kept as the guard of the reads below.
        let bytes = shape
            .iter()
            .try_fold(elem.size() as u64, |b, &d| b.checked_mul(d as u64));
        if bytes != Some(e.end - e.start) {
            return Err(format!("tensor {name}: data size does not match its shape"));
        }
        Ok(e)
    }

    /// The tensor `name` of shape `shape`, as row-major f32.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Res<Vec<f32>> {
        let mut out = Vec::new();
        self.f32_into(name, shape, &mut out)?;
        Ok(out)
    }

    /// Like [`Store::f32`], into a buffer the caller reuses: after the first tensor, loading
    /// touches no fresh memory but the weights it keeps (fresh pages cost the kernel a zeroing).
    pub fn f32_into(&self, name: &str, shape: &[usize], out: &mut Vec<f32>) -> Res<()> {
        match self {
            Self::Candle(vb) => {
                *out = vb
                    .get(shape, name)
                    .and_then(|t| t.flatten_all()?.to_vec1())
                    .map_err(|e| crate::error::first_line(&e))?;
                Ok(())
            }
            Self::Safetensors { sources, .. } => {
                let e = self.entry(name, shape)?;
                let path = match &sources[e.file] {
                    Source::File(p) => p,
                    Source::Static(bytes) => {
                        let data = bytes
                            .get(e.start as usize..e.end as usize)
                            .ok_or_else(|| format!("truncated at tensor {name}"))?;
                        out.clear();
                        out.resize(shape.iter().product(), 0.0);
                        e.elem.expect("checked").convert(data, out);
                        return Ok(());
                    }
                };
                let len = e.end - e.start;
                BYTES.with_borrow_mut(|bytes| {
                    bytes.clear();
                    let mut f =
                        File::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
                    f.seek(SeekFrom::Start(e.start))
                        .and_then(|_| f.take(len).read_to_end(bytes))
                        .map_err(|err| format!("{}: {err}", path.display()))?;
                    if bytes.len() as u64 != len {
                        return Err(format!("{}: truncated at tensor {name}", path.display()));
                    }
                    out.clear();
                    out.resize(shape.iter().product(), 0.0);
                    e.elem.expect("checked").convert(bytes, out);
                    Ok(())
                })
            }
        }
    }

    /// An embedding table `(rows, cols)`: mapped in place where the file allows it.
    pub fn table(&self, name: &str, rows: usize, cols: usize) -> Res<Table> {
        match self {
            Self::Candle(_) => Ok(Table::Owned(self.f32(name, &[rows, cols])?)),
            Self::Safetensors { sources, maps, .. } => {
                let e = self.entry(name, &[rows, cols])?;
                let map = match (&sources[e.file], maps[e.file].get()) {
                    (Source::Static(b), _) => Bytes::Static(b),
                    (Source::File(_), Some(m)) => Bytes::Map(m.clone()),
                    (Source::File(path), None) => {
                        let f = File::open(path).map_err(|err| err.to_string())?;
                        // SAFETY: mapped read-only; like every mmap user we rely on nobody truncating
                        // the file while ner-tag runs (its size was checked against the header).
                        let m = Arc::new(unsafe { Mmap::map(&f) }.map_err(|err| err.to_string())?);
                        Bytes::Map(maps[e.file].get_or_init(|| m).clone())
                    }
                };
                if map.len() < e.end as usize {
                    return Err(format!("{}: truncated", sources[e.file].name()));
                }
                Ok(Table::Mapped {
                    map,
                    start: e.start as usize,
                    elem: e.elem.expect("checked"),
                    cols,
                })
            }
        }
    }
}

/// A prefix into a [`Store`], like candle's `VarBuilder::pp`.
#[derive(Clone)]
pub struct Weights<'a> {
    store: &'a Store,
    prefix: String,
}

impl<'a> Weights<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            prefix: String::new(),
        }
    }

    pub fn pp(&self, name: impl AsRef<str>) -> Self {
        Self {
            store: self.store,
            prefix: self.path(name.as_ref()),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.store.contains(&self.path(name))
    }

    pub fn get(&self, shape: &[usize], name: &str) -> Res<Vec<f32>> {
        self.store.f32(&self.path(name), shape)
    }

    pub fn get_into(&self, shape: &[usize], name: &str, out: &mut Vec<f32>) -> Res<()> {
        self.store.f32_into(&self.path(name), shape, out)
    }

    pub fn table(&self, rows: usize, cols: usize, name: &str) -> Res<Table> {
        self.store.table(&self.path(name), rows, cols)
    }
}

/// Whether `dir`'s weights can be read directly (safetensors) rather than through candle.
pub fn open(files: &super::WeightFiles) -> crate::Result<Store> {
    match files {
        super::WeightFiles::Safetensors(paths) => {
            let sources = paths.iter().cloned().map(Source::File).collect();
            Store::safetensors(sources)
        }
        super::WeightFiles::Static(bytes) => Store::safetensors(vec![Source::Static(bytes)]),
        super::WeightFiles::Pickle(_) => Store::candle(files),
    }
}
