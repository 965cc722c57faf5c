//! Model stage, weight files: the safetensors header — read and checked against the file
//! (lengths, offsets, shapes × dtype sizes) before any tensor is mapped.

use std::path::Path;

use crate::error::{Error, Result};

/// Validates the header length and that the data section matches the file size, so a truncated
/// download fails here with a clear message instead of deep inside a tensor read.
pub(super) fn check_safetensors_header(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::model_file(path, e))?;
    let len = f.metadata().map_err(|e| Error::model_file(path, e))?.len();
    check_header(path, &mut f, len)
}

/// [`check_safetensors_header`] for `len` bytes read from `f`; `path` names them in errors.
pub(super) fn check_header(path: &Path, f: &mut dyn std::io::Read, len: u64) -> Result<()> {
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
