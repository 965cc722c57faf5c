//! Runtime: where and how the model computes — device, backend, precision and the thread policy —
//! decided once at start-up, before any thread pool starts.
//!
//! On CPU the native backend (`model::native`) runs whole batches side by side on the global
//! rayon pool, each single-threaded inside: both cores stay busy without per-operation
//! synchronisation, and results do not depend on the thread count. On CUDA the candle backend
//! runs the batches of a chunk one after another on one stream, queued together (f16 by default),
//! while other threads read, tokenize, decode and write (`pipeline::overlapped`).

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// Where the forward passes run, as the user asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
    /// CUDA device 0 when this build has CUDA and a GPU answers, else CPU.
    Auto,
}

impl DeviceChoice {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::Auto),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    Error::Usage(format!("--device {s}: expected cpu, cuda, cuda:N or auto"))
                }),
        }
    }

    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => {
                let device = match Self::Cuda(0).open() {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!(
                            "ner-tag: --device auto: no CUDA device ({e}); running on the CPU"
                        );
                        return Ok(Device::Cpu);
                    }
                };
                eprintln!("ner-tag: --device auto: running on CUDA device 0");
                Ok(device)
            }
            Self::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(Error::Usage(format!(
                        "--device cuda:{n}: this ner-tag was built without CUDA support (rebuild with `cargo build --release --features cuda`)"
                    )));
                }
                // One line, not candle's backtrace: the driver's own words are enough.
                Device::new_cuda(n).map_err(|e| {
                    Error::Usage(format!(
                        "--device cuda:{n}: cannot open the GPU: {}",
                        crate::error::first_line(&e)
                    ))
                })
            }
        }
    }
}

/// Which implementation of the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Our own CPU kernels over packed, unpadded windows (`model::native`).
    Native,
    /// candle tensors over padded batches (`model::candle_backend`): CUDA, and a CPU reference.
    Candle,
}

/// Precision of the encoder's matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantize {
    #[default]
    None,
    /// Dynamic int8: per-channel int8 weights, per-row int8 activations (CPU, native backend).
    Int8,
}

/// Parses `--dtype`: the precision the candle backend computes in.
pub fn parse_dtype(s: &str) -> Result<DType> {
    match s {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        _ => Err(Error::Usage(format!(
            "--dtype {s}: expected f32, f16 or bf16"
        ))),
    }
}

/// The checked choice of device, backend and precision the model is loaded for.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub device: Device,
    pub backend: Backend,
    pub quantize: Quantize,
    /// What the encoder computes in: weights are converted to it at load time; LayerNorm and
    /// softmax accumulate in f32 whatever it is; logits come back as f32.
    pub dtype: DType,
}

impl Runtime {
    /// The default: native backend on CPU, f32.
    pub fn cpu() -> Self {
        Self {
            device: Device::Cpu,
            backend: Backend::Native,
            quantize: Quantize::None,
            dtype: DType::F32,
        }
    }

    /// Opens the device and picks the backend (native on CPU unless `backend` says otherwise,
    /// candle on CUDA) and the dtype (f16 on CUDA, f32 on CPU unless `dtype` says otherwise).
    pub fn open(
        choice: DeviceChoice,
        backend: Option<Backend>,
        quantize: Quantize,
        dtype: Option<DType>,
    ) -> Result<Self> {
        let device = choice.open()?;
        let backend = match (device.is_cpu(), backend) {
            (true, b) => b.unwrap_or(Backend::Native),
            (false, Some(Backend::Native)) => {
                return Err(Error::Usage(
                    "--backend native runs on the CPU only; use --device cpu".into(),
                ))
            }
            (false, _) => Backend::Candle,
        };
        if quantize == Quantize::Int8 && backend != Backend::Native {
            return Err(Error::Usage(
                "--quantize int8 runs on the CPU with the native backend only".into(),
            ));
        }
        let dtype = match (backend, dtype) {
            (Backend::Native, Some(DType::BF16)) if quantize == Quantize::Int8 => {
                return Err(Error::Usage(
                    "--dtype bf16 and --quantize int8 are two precisions for the same products: choose one".into(),
                ))
            }
            // bf16 on the CPU needs the hardware: `TokenClassifier::load` checks it.
            (Backend::Native, Some(d)) if d != DType::F32 && d != DType::BF16 => {
                return Err(Error::Usage(format!(
                    "--dtype {}: the native CPU kernels compute in f32 or bf16 (--quantize int8 is the fastest CPU mode; \
                     --backend candle computes {0} on the CPU, slowly)",
                    d.as_str()
                )))
            }
            (_, Some(d)) => d,
            (Backend::Candle, None) if !device.is_cpu() => DType::F16,
            _ => DType::F32,
        };
        Ok(Self {
            device,
            backend,
            quantize,
            dtype,
        })
    }

    /// Whether whole batches run side by side on the global pool (CPU) or one at a time (GPU).
    pub fn parallel_batches(&self) -> bool {
        self.device.is_cpu()
    }
}

/// The worker pool's settings: `threads` workers, each with an alternate signal stack large
/// enough for AMX state where the process holds it ([`crate::altstack`]).
fn pool(threads: usize) -> rayon::ThreadPoolBuilder {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| crate::altstack::for_this_thread())
}

/// Sets up the global pool with `threads` workers (default: all cores). Call once, first.
pub fn init_threads(threads: Option<usize>) -> Result<usize> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // candle's CPU kernels size their own parallelism from RAYON_NUM_THREADS: batches already run
    // in parallel, so each stays single-threaded inside.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    pool(threads)
        .build_global()
        .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))?;
    Ok(threads)
}

#[cfg(all(test, unix))]
mod tests {
    /// Once the process holds the AMX permission, every worker of a pool built here starts
    /// with an alternate signal stack that a tile-carrying signal frame fits on.
    #[test]
    fn pool_workers_get_a_large_alternate_stack_once_amx_is_granted() {
        crate::altstack::needed_from_now();
        let pool = super::pool(3).build().unwrap();
        let sizes = pool.broadcast(|_| {
            // SAFETY: reads this worker's alternate stack into a local.
            unsafe {
                let mut s: libc::stack_t = std::mem::zeroed();
                assert_eq!(libc::sigaltstack(std::ptr::null(), &mut s), 0);
                (s.ss_flags & libc::SS_DISABLE == 0, s.ss_size)
            }
        });
        assert_eq!(sizes, vec![(true, crate::altstack::SIZE); 3]);
    }
}
