//! Model stage, weight files: `pytorch_model.bin` checked record by record before candle's
//! pickle reader sees it — every tensor inside its storage, every storage inside the archive.

use std::path::Path;

use crate::error::{Error, Result};

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
pub(super) fn check_pickle(path: &Path) -> Result<()> {
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
