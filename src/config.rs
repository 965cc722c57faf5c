//! The checked run configuration the library runs on, built once from the command line.

use candle_core::Device;

use crate::error::{Error, Result};
use crate::hub::ModelSource;
use crate::input::Source;
use crate::output::Format;
use crate::pipeline::{Interrupt, OnError, TagOptions};
use crate::records::InputFormat;

/// Where the forward passes run.
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
            Self::Auto => Ok(Self::Cuda(0).open().unwrap_or(Device::Cpu)),
            Self::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(Error::Usage(format!(
                        "--device cuda:{n}: this ner-tag was built without CUDA support (rebuild with `cargo build --release --features cuda`)"
                    )));
                }
                Device::new_cuda(n).map_err(|e| Error::Usage(format!("--device cuda:{n}: {e}")))
            }
        }
    }
}

pub struct Config {
    pub model: ModelSource,
    pub inputs: Vec<Source>,
    pub input_format: InputFormat,
    pub format: Format,
    pub byte_offsets: bool,
    pub tag: TagOptions,
    pub device: DeviceChoice,
    /// Lines read and tagged together; bounds memory.
    pub read_ahead: usize,
    pub stats: bool,
    /// Replace invalid UTF-8 with U+FFFD instead of writing an error record.
    pub lossy: bool,
    pub on_error: OnError,
    /// Signals that stop the run after the records already read are written.
    pub interrupt: Option<Interrupt>,
}
