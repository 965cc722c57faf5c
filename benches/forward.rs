//! Forward-pass micro-benchmark: milliseconds per batch for a few (windows × tokens) shapes, for
//! each backend and precision (native f32, native int8, candle f32), single-threaded.
//!
//! usage: cargo bench --bench forward [-- MODEL_DIR]   (default ../shared/models/bert-minilm-conll03)
//! Prints the median of repeated runs per shape and the tokens/s it implies.

use std::time::Instant;

use ner_tag::model::TokenClassifier;
use ner_tag::runtime::{Backend, Quantize, Runtime};

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "../shared/models/bert-minilm-conll03".to_string());
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let runtimes = [
        ("native f32 ", Backend::Native, Quantize::None),
        ("native int8", Backend::Native, Quantize::Int8),
        ("candle f32 ", Backend::Candle, Quantize::None),
    ];
    for (name, backend, quantize) in runtimes {
        let rt = Runtime {
            backend,
            quantize,
            ..Runtime::cpu()
        };
        let model = match TokenClassifier::load(std::path::Path::new(&dir), &rt) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("forward bench skipped: {e}");
                return;
            }
        };
        for (rows, len) in [(1, 32), (32, 32), (32, 64), (8, 512)] {
            let ids: Vec<Vec<u32>> = (0..rows)
                .map(|r| {
                    (0..len)
                        .map(|i| 1000 + ((r * len + i) as u32 * 7919) % 20000)
                        .collect()
                })
                .collect();
            let windows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
            model.forward(&windows).unwrap();
            let mut times: Vec<f64> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    model.forward(&windows).unwrap();
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{name} rows {rows:>3} × len {len:>3}: median {:>8.2} ms, {:>9.0} tokens/s",
                median * 1e3,
                (rows * len) as f64 / median
            );
        }
    }
}
