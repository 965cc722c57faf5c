//! Forward-pass micro-benchmark: milliseconds per batch for a few (rows × tokens) shapes.
//!
//! usage: cargo bench --bench forward [-- MODEL_DIR]   (default ../shared/models/bert-minilm-conll03)
//! Prints the median of repeated runs per shape and the tokens/s it implies.

use std::time::Instant;

use candle_core::Device;
use ner_tag::model::{Batch, TokenClassifier};

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "../shared/models/bert-minilm-conll03".to_string());
    let model = match TokenClassifier::load(std::path::Path::new(&dir), &Device::Cpu) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("forward bench skipped: {e}");
            return;
        }
    };
    for (rows, len) in [(1, 32), (32, 32), (32, 64), (8, 512)] {
        let ids: Vec<u32> = (0..rows * len)
            .map(|i| 1000 + (i as u32 * 7919) % 20000)
            .collect();
        let mask = vec![1u8; rows * len];
        let batch = Batch {
            ids: &ids,
            mask: &mask,
            rows,
            len,
        };
        model.forward(&batch).unwrap();
        let mut times: Vec<f64> = (0..7)
            .map(|_| {
                let t = Instant::now();
                model.forward(&batch).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "rows {rows:>3} × len {len:>3}: median {:>8.2} ms, {:>9.0} tokens/s",
            median * 1e3,
            (rows * len) as f64 / median
        );
    }
}
