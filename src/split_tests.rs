use super::*;

fn words(text: &str) -> Vec<&str> {
    split_bytes(text)
        .iter()
        .map(|&(s, e)| &text[s..e])
        .collect()
}

/// (text, the words it must split into, separated by `|`).
const CASES: &[(&str, &str)] = &[
    // punctuation comes off word edges
    ("I live in Berlin, Germany.", "I|live|in|Berlin|,|Germany|."),
    ("Really?! Yes; no: maybe", "Really|?|!|Yes|;|no|:|maybe"),
    ("(Reuters) said [sic] {x}", "(|Reuters|)|said|[|sic|]|{|x|}"),
    ("Berlin).", "Berlin|)|."),
    ("\"Hello,\" he said.", "\"|Hello|,|\"|he|said|."),
    ("“Curly” «guillemets»", "“|Curly|”|«|guillemets|»"),
    ("'Quoted' words", "'|Quoted|'|words"),
    // initials, acronyms, abbreviations keep their period
    (
        "P. Simmons met J.R.R. Tolkien",
        "P.|Simmons|met|J.R.R.|Tolkien",
    ),
    ("the U.S. and U.N. forces", "the|U.S.|and|U.N.|forces"),
    ("flights to the U.S.", "flights|to|the|U.S|."),
    (
        "Calif. and Sun Microsystems Inc.'s unit",
        "Calif.|and|Sun|Microsystems|Inc.|'s|unit",
    ),
    (
        "said Alan of Fahnestock & Co.\"",
        "said|Alan|of|Fahnestock|&|Co|.|\"",
    ),
    (
        "Apple Inc. and Acme Corp. vs. Mr. Smith",
        "Apple|Inc.|and|Acme|Corp.|vs.|Mr.|Smith",
    ),
    (
        "San Jose, Calif., on Oct. 3",
        "San|Jose|,|Calif.|,|on|Oct.|3",
    ),
    (
        "Iraq-U.N. talks at 9 a.m. today",
        "Iraq-U.N.|talks|at|9|a.m.|today",
    ),
    ("He won.", "He|won|."),
    ("and so on...", "and|so|on|..."),
    ("...", "..."),
    ("wait.. what", "wait|..|what"),
    // a list number opens the line; elsewhere a number's period is the sentence's
    (
        "1. Steffi Graf (Germany) 4,256",
        "1.|Steffi|Graf|(|Germany|)|4,256",
    ),
    ("born in 1996.", "born|in|1996|."),
    // hyphens, numbers, dates, inner apostrophes stay whole
    (
        "Chester-le-Street on 1996-08-30",
        "Chester-le-Street|on|1996-08-30",
    ),
    ("1,000.5 at 10:30 or 3/4", "1,000.5|at|10:30|or|3/4"),
    ("O'Neill and d'Alema", "O'Neill|and|d'Alema"),
    // clitics as the treebank writes them
    ("Germany's coach", "Germany|'s|coach"),
    ("GERMANY'S COACH", "GERMANY|'S|COACH"),
    ("don't, can't", "do|n't|,|ca|n't"),
    (
        "we're they've I'm you'll he'd",
        "we|'re|they|'ve|I|'m|you|'ll|he|'d",
    ),
    ("Germany’s coach isn’t", "Germany|’s|coach|is|n’t"),
    ("O'Neill's team", "O'Neill|'s|team"),
    ("Reuters' report", "Reuters|'|report"),
    ("the '90s", "the|'90s"),
    // currencies and percentages
    ("$5 and US$3.5 or HK$10", "$|5|and|US$|3.5|or|HK$|10"),
    ("rose 5% to $", "rose|5|%|to|$"),
    // standalone characters
    ("Berlin—Paris", "Berlin|—|Paris"),
    ("wait… what", "wait|…|what"),
    ("東京に住む", "東|京|に|住|む"),
    (
        "会議。Tokyo「北」，ok！",
        "会|議|。|Tokyo|「|北|」|，|ok|！",
    ),
    // whitespace of every kind, empty input
    ("  a\t\tb\u{3000}c \u{a0}d  ", "a|b|c|d"),
    ("", ""),
    ("   ", ""),
    // URLs and addresses stay whole, a sentence period comes off
    (
        "see https://example.com/a.b.",
        "see|https://example.com/a.b|.",
    ),
    ("mail bob@example.com.", "mail|bob@example.com|."),
];

#[test]
fn case_table() {
    for (text, want) in CASES {
        let want: Vec<&str> = if want.is_empty() {
            Vec::new()
        } else {
            want.split('|').collect()
        };
        assert_eq!(words(text), want, "splitting {text:?}");
    }
}

#[test]
fn words_cover_every_non_space_character_once() {
    for (text, _) in CASES {
        let spans = split_bytes(text);
        let mut covered = String::new();
        let mut last = 0;
        for &(s, e) in &spans {
            assert!(s >= last && s < e, "{text:?}: {spans:?}");
            assert!(text[last..s].chars().all(char::is_whitespace));
            assert!(!text[s..e].chars().any(char::is_whitespace));
            covered.push_str(&text[s..e]);
            last = e;
        }
        assert!(text[last..].chars().all(char::is_whitespace));
        let want: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(covered, want);
    }
}

#[test]
fn char_offsets_match_byte_offsets() {
    for text in ["Zürich's café, 東京 👍🏽 U.S.", "a", "é."] {
        let chars: Vec<char> = text.chars().collect();
        let by_char = split_words(text);
        let by_byte = split_bytes(text);
        assert_eq!(by_char.len(), by_byte.len());
        for (&(cs, ce), &(bs, be)) in by_char.iter().zip(&by_byte) {
            assert_eq!(chars[cs..ce].iter().collect::<String>(), &text[bs..be]);
        }
    }
}
