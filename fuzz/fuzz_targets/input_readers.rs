//! Fuzzes the input stage: arbitrary bytes read as text lines, JSONL and CoNLL (detected and fixed
//! gold columns), plain and lossy. Every call must terminate without panicking, and every line
//! must come out as a record or an error naming it.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use ner_tag::input::Source;
use ner_tag::records::{InputFormat, RecordReader};

fuzz_target!(|data: &[u8]| {
    let bytes: Arc<[u8]> = Arc::from(data);
    let formats = [
        InputFormat::Text,
        InputFormat::Jsonl { field: "text".into() },
        InputFormat::Conll { gold_column: None },
        InputFormat::Conll { gold_column: Some(2) },
    ];
    let lines = data.split(|&b| b == b'\n').count();
    for format in formats {
        for lossy in [false, true] {
            let src = vec![Source::Memory("fuzz".into(), bytes.clone()), Source::Memory("again".into(), bytes.clone())];
            let mut reader = RecordReader::new(src, format.clone()).lossy(lossy);
            let mut n = 0;
            loop {
                match reader.next_record() {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => break,
                    Err(ner_tag::Error::Input { .. } | ner_tag::Error::UntaggableObject { .. }) => n += 1,
                    Err(e) => panic!("a reader error that is not about one record: {e}"),
                }
                assert!(n <= 2 * lines + 2, "more records than lines");
            }
            if format == InputFormat::Text {
                // One record (or error) per line of each source: nothing dropped.
                let expected = if data.is_empty() { 0 } else { lines - usize::from(data.ends_with(b"\n")) };
                assert_eq!(n, 2 * expected);
            }
        }
    }
});
