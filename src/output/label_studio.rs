//! Output stage, Label Studio printer (`-f label-studio`): one import task per record, one per
//! line — `data` (the text, or the JSONL input object) and `predictions[0]` with the entities as
//! `labels` regions people correct in Label Studio's NER interface.
//!
//! Offsets are Unicode code points, as Label Studio stores them since it fixed its emoji offsets
//! (<https://github.com/HumanSignal/label-studio/pull/1559>), i.e. ner-tag's characters. A record
//! that cannot be tagged still becomes a task (empty text, the problem in `meta.error`): nothing
//! is dropped, and it shows up in Label Studio instead of vanishing.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{char_to_byte, ErrorRecord, InputKind, Printer, Sink, TaggedRecord};
use crate::decode::{tags, Aggregation};
use crate::error::Result;

/// The names a Label Studio labeling config gives its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelStudio {
    /// `<Labels name=…>` (Label Studio's NER template: `label`).
    pub from_name: String,
    /// `<Text name=…>` (the template's `text`).
    pub to_name: String,
    /// The `data` key of the text: `text`, or the JSONL input's `--text-field`.
    pub text_key: String,
    /// `model_version` of the predictions.
    pub model_version: String,
}

pub struct LabelStudioPrinter<W: Write> {
    sink: Sink<W>,
    cfg: LabelStudio,
    aggregation: Aggregation,
}

impl<W: Write> LabelStudioPrinter<W> {
    pub fn new(sink: Sink<W>, cfg: LabelStudio, aggregation: Aggregation) -> Self {
        Self {
            sink,
            cfg,
            aggregation,
        }
    }
}

impl<W: Write> Printer for LabelStudioPrinter<W> {
    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        let bytes = char_to_byte(rec.text);
        let at = |c: usize| bytes.at(c);
        let result: Vec<Value> = rec
            .entities
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let label = match self.aggregation {
                    Aggregation::None => tags::entity_type(&e.label),
                    _ => &e.label,
                };
                json!({
                    "id": format!("e{i}"),
                    "from_name": self.cfg.from_name,
                    "to_name": self.cfg.to_name,
                    "type": "labels",
                    "value": {"start": e.start, "end": e.end,
                              "text": &rec.text[at(e.start)..at(e.end)], "labels": [label]},
                    "score": super::score_json(e.score),
                })
            })
            .collect();
        let mean = match rec.entities.len() {
            0 => 0.0,
            n => rec.entities.iter().map(|e| e.score).sum::<f32>() / n as f32,
        };
        let mut data = match &rec.input {
            InputKind::Json(object) => (*object).clone(),
            _ => Map::new(),
        };
        data.insert(self.cfg.text_key.clone(), rec.text.into());
        let mut task = json!({
            "data": data,
            "predictions": [{"model_version": self.cfg.model_version, "score": super::score_json(mean),
                             "result": result}],
        });
        if let Some(meta) = meta(rec.file, rec.line) {
            task["meta"] = meta;
        }
        self.sink.emit_json_line(&task)
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        let mut data = err.object.cloned().unwrap_or_default();
        data.insert(self.cfg.text_key.clone(), "".into());
        let mut meta = meta(err.file, err.line).unwrap_or_else(|| json!({}));
        meta["error"] = err.msg.into();
        meta["line"] = err.line.into();
        self.sink
            .emit_json_line(&json!({"data": data, "meta": meta}))
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.flush()
    }
}

/// `meta` of a task: where the record came from when several files feed one output.
fn meta(file: Option<&str>, line: usize) -> Option<Value> {
    file.map(|f| json!({"file": f, "line": line}))
}
