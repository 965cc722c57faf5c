//! Output stage, HTML printer: one self-contained page (inline CSS, no scripts, no fetches)
//! showing each record's text with its entities highlighted and labelled, in the spirit of
//! displaCy. All text is escaped, so hostile input stays text.

use std::io::{self, Write};

use super::{ErrorRecord, Printer, Sink, TaggedRecord};
use crate::decode::Entity;
use crate::error::Result;

pub struct Html<W: Write> {
    sink: Sink<W>,
}

impl<W: Write> Html<W> {
    pub fn new(sink: Sink<W>) -> Self {
        Self { sink }
    }
}

impl<W: Write> Printer for Html<W> {
    fn begin(&mut self) -> Result<()> {
        self.sink.emit(|buf| {
            buf.extend_from_slice(HEADER.as_bytes());
            Ok(())
        })
    }

    fn record(&mut self, rec: &TaggedRecord) -> Result<()> {
        self.sink
            .emit(|buf| record(buf, rec.file, rec.line, rec.text, rec.entities))
    }

    fn error(&mut self, err: &ErrorRecord) -> Result<()> {
        self.sink.emit(|buf| {
            error(buf, err.file, err.line, err.msg);
            Ok(())
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.sink.flush()
    }

    fn finish(&mut self) -> Result<()> {
        self.sink.emit(|buf| {
            buf.extend_from_slice(FOOTER.as_bytes());
            Ok(())
        })?;
        self.sink.flush()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&#39;"),
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// A colour per label: the usual CoNLL/OntoNotes ones fixed, any other from a hash of its name.
fn hue(label: &str) -> u32 {
    match label {
        "PER" | "PERSON" => 210,
        "ORG" => 30,
        "LOC" | "GPE" => 120,
        "MISC" | "NORP" => 280,
        _ => {
            label
                .bytes()
                .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))
                % 360
        }
    }
}

pub const HEADER: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>ner-tag</title>
<style>
body{font:16px/1.9 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
.rec{display:flex;gap:1em;border-bottom:1px solid #eee;padding:.3em 0}
.ln{color:#999;font:12px monospace;min-width:4em;text-align:right;padding-top:.4em}
.txt{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
mark{border-radius:.3em;padding:.1em .3em;margin:0 .1em}
mark .lbl{font-size:.65em;font-weight:bold;margin-left:.4em;vertical-align:middle;text-transform:uppercase}
.err{color:#b00020;font-family:monospace}
</style></head><body>
"#;

pub const FOOTER: &str = "</body></html>\n";

/// One record: its line number and text, entities as `<mark>` with their label.
pub fn record(
    out: &mut Vec<u8>,
    file: Option<&str>,
    line: usize,
    text: &str,
    entities: &[Entity],
) -> io::Result<()> {
    let bytes: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect();
    let at = |c: usize| bytes[c.min(bytes.len() - 1)];
    out.extend_from_slice(b"<div class=\"rec\"><span class=\"ln\">");
    if let Some(f) = file {
        escape(f, out);
        out.push(b':');
    }
    write!(out, "{line}</span><p class=\"txt\">")?;
    let mut cursor = 0;
    for e in entities {
        if e.start < cursor || e.end <= e.start {
            continue;
        }
        escape(&text[at(cursor)..at(e.start)], out);
        let h = hue(&e.label);
        out.extend_from_slice(
            format!("<mark class=\"ent\" style=\"background:hsl({h},70%,88%)\" data-label=\"")
                .as_bytes(),
        );
        escape(&e.label, out);
        write!(out, "\" title=\"score {:.3}\">", e.score)?;
        escape(&text[at(e.start)..at(e.end)], out);
        out.extend_from_slice(b"<span class=\"lbl\">");
        escape(&e.label, out);
        out.extend_from_slice(b"</span></mark>");
        cursor = e.end;
    }
    escape(&text[at(cursor)..], out);
    out.extend_from_slice(b"</p></div>\n");
    Ok(())
}

/// The record written in place of one that could not be tagged.
pub fn error(out: &mut Vec<u8>, file: Option<&str>, line: usize, msg: &str) {
    out.extend_from_slice(b"<div class=\"rec\"><span class=\"ln\">");
    if let Some(f) = file {
        escape(f, out);
        out.push(b':');
    }
    out.extend_from_slice(format!("{line}</span><p class=\"txt err\">error: ").as_bytes());
    escape(msg, out);
    out.extend_from_slice(b"</p></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(label: &str, start: usize, end: usize) -> Entity {
        Entity {
            label: label.into(),
            start,
            end,
            score: 0.9,
        }
    }

    #[test]
    fn entities_are_marked_and_text_escaped() {
        let text = "<script>alert(1)</script> Ünïcode Berlin & \"Paris\"";
        let berlin = text.chars().collect::<String>();
        let start = berlin
            .find("Berlin")
            .map(|b| text[..b].chars().count())
            .unwrap();
        let mut out = Vec::new();
        record(&mut out, None, 7, text, &[ent("LOC", start, start + 6)]).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains(">Berlin<span class=\"lbl\">LOC</span></mark>"),
            "{html}"
        );
        assert!(html.contains("&amp; &quot;Paris&quot;"));
        assert!(html.contains("<span class=\"ln\">7</span>"));
        assert_eq!(html.matches("<mark").count(), 1);
    }
}
