//! Model stage: finds and opens the weight files (safetensors, sharded safetensors, restricted pickle).
//!
//! Weights are data, never code: safetensors are memory-mapped, and `pytorch_model.bin` goes through
//! candle's pickle reader, which only rebuilds tensors and refuses arbitrary callables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};

pub const SAFETENSORS: &str = "model.safetensors";
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
pub const PYTORCH_BIN: &str = "pytorch_model.bin";

/// The weight files of a checkpoint, in the order of preference Hugging Face uses.
#[derive(Debug, Clone)]
pub enum WeightFiles {
    Safetensors(Vec<PathBuf>),
    Pickle(PathBuf),
    /// A safetensors file compiled into the binary (the built-in model).
    Static(&'static [u8]),
}

/// How error messages name the built-in model's weights.
pub const BUILT_IN_WEIGHTS: &str = "<built-in model>/model.safetensors";

impl WeightFiles {
    pub fn find(dir: &Path) -> Result<Self> {
        let single = dir.join(SAFETENSORS);
        if single.is_file() {
            return Ok(Self::Safetensors(vec![single]));
        }
        let index = dir.join(SAFETENSORS_INDEX);
        if index.is_file() {
            return Ok(Self::Safetensors(shards_from_index(&index)?));
        }
        let bin = dir.join(PYTORCH_BIN);
        if bin.is_file() {
            return Ok(Self::Pickle(bin));
        }
        Err(Error::model_file(
            dir,
            format!("no weights: expected {SAFETENSORS}, {SAFETENSORS_INDEX} or {PYTORCH_BIN}"),
        ))
    }

    /// The file named in error messages about these weights.
    pub fn display_path(&self) -> &Path {
        match self {
            Self::Safetensors(p) => &p[0],
            Self::Pickle(p) => p,
            Self::Static(_) => Path::new(BUILT_IN_WEIGHTS),
        }
    }

    /// Checks that safetensors files are complete (header and data sizes).
    pub fn check(&self) -> Result<()> {
        match self {
            Self::Safetensors(paths) => {
                for p in paths {
                    check_safetensors_header(p)?;
                }
            }
            Self::Static(bytes) => check_header(
                Path::new(BUILT_IN_WEIGHTS),
                &mut std::io::Cursor::new(bytes),
                bytes.len() as u64,
            )?,
            Self::Pickle(p) => check_pickle(p)?,
        }
        Ok(())
    }

    /// Opens the weights; whatever their stored dtype, tensors come out as `dtype`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        match self {
            Self::Safetensors(paths) => {
                for p in paths {
                    check_safetensors_header(p)?;
                }
                // SAFETY: the files are mapped read-only; like every mmap user we rely on nobody
                // truncating them while ner-tag runs, which the header check above cannot rule out.
                unsafe { VarBuilder::from_mmaped_safetensors(paths, dtype, device) }.map_err(|e| {
                    Error::model_file(
                        &paths[0],
                        format!("cannot read safetensors: {}", crate::error::first_line(&e)),
                    )
                })
            }
            Self::Static(bytes) => {
                self.check()?;
                VarBuilder::from_slice_safetensors(bytes, dtype, device).map_err(|e| {
                    Error::model_file(
                        BUILT_IN_WEIGHTS,
                        format!("cannot read safetensors: {}", crate::error::first_line(&e)),
                    )
                })
            }
            Self::Pickle(p) => {
                check_pickle(p)?;
                VarBuilder::from_pth(p, dtype, device).map_err(|e| {
                    Error::model_file(
                        p,
                        format!(
                            "cannot read PyTorch weights: {}",
                            crate::error::first_line(&e)
                        ),
                    )
                })
            }
        }
    }
}

fn shards_from_index(index: &Path) -> Result<Vec<PathBuf>> {
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards = Vec::new();
    for name in shard_names(index)? {
        let p = dir.join(&name);
        if !p.is_file() {
            return Err(Error::model_file(index, format!("shard {name} is missing")));
        }
        shards.push(p);
    }
    Ok(shards)
}

/// The shard files a `model.safetensors.index.json` names, each once, checked to stay in its directory.
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::model_file(index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::model_file(index, format!("not valid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::model_file(index, "no \"weight_map\" object"))?;
    let names: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
    if names.is_empty() {
        return Err(Error::model_file(index, "weight_map names no shard"));
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.contains('/') || n.contains('\\') || n.contains(".."))
    {
        return Err(Error::model_file(
            index,
            format!("shard name \"{bad}\" leaves the model directory"),
        ));
    }
    Ok(names.into_iter().map(str::to_string).collect())
}

/// Validates the header length and that the data section matches the file size, so a truncated
/// download fails here with a clear message instead of deep inside a tensor read.
fn check_safetensors_header(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::model_file(path, e))?;
    let len = f.metadata().map_err(|e| Error::model_file(path, e))?.len();
    check_header(path, &mut f, len)
}

/// [`check_safetensors_header`] for `len` bytes read from `f`; `path` names them in errors.
fn check_header(path: &Path, f: &mut dyn std::io::Read, len: u64) -> Result<()> {
    read_header(path, f, len).map(drop)
}

/// One tensor of a safetensors header, checked against its file.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Absolute byte range in the file: `start <= end <= file length`.
    pub start: u64,
    pub end: u64,
}

/// Bytes per element of a safetensors dtype; `None` for sub-byte and unknown dtypes, whose
/// tensors are only range-checked (ner-tag reads none of them).
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

/// Reads and checks the header of a safetensors file of `len` bytes from `f` (positioned at its
/// start): the header length, and for every tensor a shape of integers, `data_offsets` that lie
/// inside the data section, and — for the dtypes of known size — shape × dtype size equal to
/// the byte length, all in checked arithmetic. `path` names the file in errors, with the tensor.
pub fn read_header(path: &Path, f: &mut dyn std::io::Read, len: u64) -> Result<Vec<TensorSpec>> {
    let mut n = [0u8; 8];
    if len < 8 || f.read_exact(&mut n).is_err() {
        return Err(Error::model_file(
            path,
            "truncated safetensors file (no header)",
        ));
    }
    let header_len = u64::from_le_bytes(n);
    if header_len > len - 8 || header_len > 100 << 20 {
        return Err(Error::model_file(
            path,
            "corrupt safetensors file (header length exceeds the file)",
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::model_file(path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|_| Error::model_file(path, "corrupt safetensors file (header is not JSON)"))?;
    let tensors = v.as_object().ok_or_else(|| {
        Error::model_file(
            path,
            "corrupt safetensors file (header is not a JSON object)",
        )
    })?;
    let data_start = 8 + header_len; // both bounded by `len` above
    let data_len = len - data_start;
    let mut specs = Vec::with_capacity(tensors.len());
    // The tensor whose data ends furthest, when that is past the end of the file.
    let mut outside: Option<(&str, u64)> = None;
    for (name, t) in tensors {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: String| {
            Error::model_file(
                path,
                format!("corrupt safetensors file: tensor {name}: {what}"),
            )
        };
        let dtype = t
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no dtype".into()))?;
        let shape: Vec<usize> = t
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                    .collect::<Option<_>>()
            })
            .ok_or_else(|| bad(format!("shape {} is not a list of sizes", t["shape"])))?;
        let offsets = t.get("data_offsets").and_then(|o| o.as_array());
        let (s, e) = match offsets.map(|o| (o.len(), o.first(), o.get(1))) {
            Some((2, Some(s), Some(e))) => match (s.as_u64(), e.as_u64()) {
                (Some(s), Some(e)) if s <= e => (s, e),
                _ => return Err(bad(format!("bad data_offsets {}", t["data_offsets"]))),
            },
            _ => return Err(bad("no data_offsets [start, end]".into())),
        };
        if e > data_len {
            // Reported below, for the tensor that ends furthest (a truncated download).
            if outside.is_none_or(|(_, end)| e > end) {
                outside = Some((name, e));
            }
            continue;
        }
        if let Some(size) = dtype_size(dtype) {
            let bytes = shape.iter().try_fold(size, |b, &d| b.checked_mul(d as u64));
            if bytes != Some(e - s) {
                return Err(bad(format!(
                    "shape {shape:?} of {dtype} needs {} bytes, data_offsets [{s}, {e}] hold {}",
                    bytes.map_or("more than 2^64".to_string(), |b| b.to_string()),
                    e - s
                )));
            }
        }
        specs.push(TensorSpec {
            name: name.clone(),
            dtype: dtype.to_string(),
            shape,
            start: data_start + s,
            end: data_start + e,
        });
    }
    if let Some((name, e)) = outside {
        return Err(Error::model_file(
            path,
            format!(
                "truncated safetensors file: tensor {name} ends at byte {}, the file has {len}",
                u128::from(data_start) + u128::from(e)
            ),
        ));
    }
    Ok(specs)
}

/// Bytes per element of the torch storage classes candle's pickle reader rebuilds
/// (`torch FloatStorage`); `None` for the others, whose tensors it skips.
fn storage_elem_size(class: &str) -> Option<u64> {
    Some(match class {
        "FloatStorage" => 4,
        "DoubleStorage" | "LongStorage" => 8,
        "HalfStorage" | "BFloat16Storage" => 2,
        "ByteStorage" => 1,
        _ => return None,
    })
}

/// The arguments of `torch._utils._rebuild_tensor_v2` for a state-dict value, found as candle's
/// reader finds them (also under `_rebuild_from_type_v2` and `_rebuild_parameter`); `Ok(None)`
/// for values that are no tensor, an error for wrappers too short for the reader to unpack.
fn rebuild_tensor_args(
    value: &candle_core::pickle::Object,
) -> std::result::Result<Option<&[candle_core::pickle::Object]>, String> {
    use candle_core::pickle::Object;
    let is = |o: &Object, m: &str, c: &str| matches!(o, Object::Class { module_name, class_name } if module_name == m && class_name == c);
    let Object::Reduce { callable, args } = value else {
        return Ok(None);
    };
    let (mut callable, mut args): (&Object, &Object) = (callable, args);
    if is(callable, "torch._tensor", "_rebuild_from_type_v2") {
        // (function, type, args, state)
        match args {
            Object::Tuple(a) if a.len() >= 3 => (callable, args) = (&a[0], &a[2]),
            _ => return Err("_rebuild_from_type_v2 without (function, type, args)".into()),
        }
    } else if is(callable, "torch._utils", "_rebuild_parameter") {
        match args {
            Object::Tuple(a) => match a.first() {
                Some(Object::Reduce {
                    callable: c,
                    args: x,
                }) => (callable, args) = (c, x),
                _ => return Err("_rebuild_parameter without a tensor".into()),
            },
            _ => return Err("_rebuild_parameter without a tensor".into()),
        }
    }
    if !is(callable, "torch._utils", "_rebuild_tensor_v2") {
        return Ok(None);
    }
    match args {
        Object::Tuple(a) => Ok(Some(a.as_slice())),
        _ => Ok(Some(&[])),
    }
}

/// Checks a `pytorch_model.bin` before candle's pickle reader sees it, so that no record can
/// make it overflow, allocate by a declared size, or read past a storage: for every tensor of
/// the state dict a storage `(\"storage\", class, key, location, size)`, a non-negative offset,
/// size and stride lists of equal length with non-negative entries, every element it addresses
/// inside the storage, and the storage's record in the archive holding exactly `size × element
/// size` bytes, within the file. All in checked arithmetic; one line naming the file and tensor.
fn check_pickle(path: &Path) -> Result<()> {
    use candle_core::pickle::{Object, Stack};
    use std::collections::HashMap;
    use std::io::BufReader;
    let file = std::fs::File::open(path).map_err(|e| Error::model_file(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::model_file(path, e))?
        .len();
    let not_torch = |e: &dyn std::fmt::Display| {
        Error::model_file(path, format!("cannot read PyTorch weights: {e}"))
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| not_torch(&e))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| not_torch(&e))?;
    // Byte length of each archive record a storage may name, checked to lie within the file.
    let mut record_len: HashMap<String, std::result::Result<u64, String>> = HashMap::new();
    for pkl in names.iter().filter(|n| n.ends_with("data.pkl")) {
        let dir = pkl.strip_suffix(".pkl").unwrap_or(pkl);
        let obj = {
            let reader = zip.by_name(pkl).map_err(|e| not_torch(&e))?;
            let mut stack = Stack::empty();
            stack
                .read_loop(&mut BufReader::new(reader))
                .map_err(|e| not_torch(&crate::error::first_line(&e)))?;
            stack
                .finalize()
                .map_err(|e| not_torch(&crate::error::first_line(&e)))?
        };
        // A scripted module (`__torch__.Module`) holds its state dict as BUILD's argument.
        let obj = match obj {
            Object::Build { callable, args } => match *callable {
                Object::Reduce { callable, .. }
                    if matches!(&*callable, Object::Class { module_name, class_name }
                        if module_name == "__torch__" && class_name == "Module") =>
                {
                    *args
                }
                _ => continue,
            },
            obj => obj,
        };
        let Object::Dict(entries) = obj else { continue };
        for (name, value) in &entries {
            let Object::Unicode(name) = name else {
                continue;
            };
            let bad = |what: String| {
                Error::model_file(
                    path,
                    format!("corrupt PyTorch weights: tensor {name}: {what}"),
                )
            };
            let Some(args) = rebuild_tensor_args(value).map_err(bad)? else {
                continue;
            };
            let int = |o: &Object| match o {
                Object::Int(i) => u64::try_from(*i).ok(),
                Object::Long(i) => u64::try_from(*i).ok(),
                _ => None,
            };
            // Sizes and strides as the reader takes them: small non-negative ints.
            let ints = |o: Option<&Object>| match o {
                Some(Object::Tuple(v)) => v
                    .iter()
                    .map(|x| match x {
                        Object::Int(i) => u64::try_from(*i).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<u64>>>(),
                _ => None,
            };
            let storage = match args.first() {
                Some(Object::PersistentLoad(s)) => match &**s {
                    Object::Tuple(s) if s.len() >= 5 => s,
                    _ => {
                        return Err(bad(
                            "its storage is not (storage, class, key, location, size)".into(),
                        ))
                    }
                },
                _ => return Err(bad("no storage".into())),
            };
            let Object::Class { class_name, .. } = &storage[1] else {
                return Err(bad("its storage has no class".into()));
            };
            let Some(elem) = storage_elem_size(class_name) else {
                continue; // the reader skips it: nothing of it is read
            };
            let Object::Unicode(key) = &storage[2] else {
                return Err(bad("its storage key is not a string".into()));
            };
            let storage_size = int(&storage[4])
                .ok_or_else(|| bad(format!("storage size {:?} is not a size", storage[4])))?;
            let offset = args
                .get(1)
                .and_then(int)
                .ok_or_else(|| bad("storage offset is not a size".into()))?;
            let (Some(size), Some(stride)) = (ints(args.get(2)), ints(args.get(3))) else {
                return Err(bad("size or stride is not a list of sizes".into()));
            };
            if size.len() != stride.len() {
                return Err(bad(format!(
                    "size {size:?} and stride {stride:?} differ in length"
                )));
            }
            let count = size.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
            // The last element addressed (when there is one), and candle reads `count` elements
            // from `offset` on: both inside the storage.
            let last = size.iter().zip(&stride).try_fold(offset, |end, (&d, &s)| {
                end.checked_add(d.saturating_sub(1).checked_mul(s)?)
            });
            let fits = match (count, last) {
                (Some(0), _) => offset <= storage_size,
                (Some(n), Some(last)) => {
                    last < storage_size && offset.checked_add(n).is_some_and(|e| e <= storage_size)
                }
                _ => false,
            };
            if !fits {
                return Err(bad(format!(
                    "size {size:?} (stride {stride:?}) from offset {offset} does not fit its storage of {storage_size} elements"
                )));
            }
            let record = format!("{dir}/{key}");
            let stored = record_len
                .entry(record.clone())
                .or_insert_with(|| {
                    let f = zip
                        .by_name(&record)
                        .map_err(|e| format!("its storage {record} cannot be read: {e}"))?;
                    let (start, size) = (f.data_start().unwrap_or(u64::MAX), f.compressed_size());
                    if start.checked_add(size).is_none_or(|end| end > len) {
                        return Err(format!(
                            "its storage {record} lies outside the file ({len} bytes)"
                        ));
                    }
                    Ok(f.size())
                })
                .clone()
                .map_err(bad)?;
            if storage_size.checked_mul(elem) != Some(stored) {
                return Err(bad(format!(
                    "its storage {record} holds {stored} bytes, not {storage_size} × {elem}"
                )));
            }
        }
    }
    Ok(())
}
