//! Tests of the `config.json` reader: sizes, defaults and refusals per family.

use super::*;

fn parse(extra: &str) -> ModelConfig {
    let text = format!(
        r#"{{"vocab_size": 10, "hidden_size": 32, "num_attention_heads": 4,
            "id2label": {{"0": "O"}}, {extra}}}"#
    );
    ModelConfig::from_str("config.json", &text).unwrap()
}

#[test]
fn electra_embedding_size_is_read_and_defaults_as_transformers_does() {
    let c = parse(r#""model_type": "electra", "embedding_size": 16"#);
    assert_eq!(c.arch, Architecture::Electra);
    assert_eq!((c.embedding_size, c.hidden_size), (16, 32));
    assert_eq!(c.arch.weight_prefix(), "electra");
    assert_eq!(c.max_tokens(), 512);
    // `ElectraConfig` defaults `embedding_size` to 128.
    assert_eq!(parse(r#""model_type": "electra""#).embedding_size, 128);
}

#[test]
fn other_families_embed_at_the_hidden_size() {
    for t in ["bert", "xlm-roberta", "roberta"] {
        let c = parse(&format!(r#""model_type": "{t}", "embedding_size": 16"#));
        assert_eq!(c.embedding_size, 32, "{t}");
    }
}

/// The error `from_json` gives for a BERT config with `edits` applied (None: accepted).
fn refusal(model_type: &str, edits: serde_json::Value) -> Option<String> {
    let mut v = serde_json::json!({"model_type": model_type, "vocab_size": 10, "hidden_size": 32,
        "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 37,
        "max_position_embeddings": 64, "id2label": {"0": "O"}});
    for (k, x) in edits.as_object().unwrap() {
        v[k] = x.clone();
    }
    ModelConfig::from_json(&v).err()
}

#[test]
fn zero_sizes_are_refused_naming_the_key() {
    for key in [
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "vocab_size",
    ] {
        let err = refusal("bert", serde_json::json!({ key: 0 })).unwrap();
        assert_eq!(err, format!("\"{key}\" is 0"));
    }
    for key in ["dim", "n_layers", "n_heads", "hidden_dim"] {
        let err = refusal("distilbert", serde_json::json!({ key: 0 })).unwrap();
        assert_eq!(err, format!("\"{key}\" is 0"));
    }
    let err = refusal("electra", serde_json::json!({"embedding_size": 0})).unwrap();
    assert_eq!(err, "\"embedding_size\" is 0");
    assert_eq!(refusal("bert", serde_json::json!({})), None);
}

#[test]
fn pad_token_id_must_be_a_row_of_the_embeddings() {
    let err = refusal("bert", serde_json::json!({"pad_token_id": 10})).unwrap();
    assert_eq!(err, "\"pad_token_id\" 10 is not below \"vocab_size\" 10");
    assert_eq!(
        refusal("bert", serde_json::json!({"pad_token_id": 9})),
        None
    );
    // RoBERTa's default padding id is 1: a one-row vocabulary has no row 1.
    let err = refusal("roberta", serde_json::json!({"vocab_size": 1})).unwrap();
    assert!(err.contains("\"pad_token_id\" 1"), "{err}");
    let err = refusal("bert", serde_json::json!({"pad_token_id": u64::MAX})).unwrap();
    assert!(err.contains("\"pad_token_id\""), "{err}");
}

#[test]
fn sizes_whose_products_overflow_are_refused_naming_the_keys() {
    let cases = [
        (
            serde_json::json!({"vocab_size": 1u64 << 62}),
            "\"vocab_size\"",
        ),
        (
            serde_json::json!({"hidden_size": 1u64 << 32, "num_attention_heads": 1}),
            "\"hidden_size\"",
        ),
        (
            serde_json::json!({"intermediate_size": 1u64 << 60}),
            "\"intermediate_size\"",
        ),
        (
            serde_json::json!({"num_hidden_layers": 1u64 << 60}),
            "\"num_hidden_layers\"",
        ),
        (
            serde_json::json!({"max_position_embeddings": 1u64 << 31}),
            "\"max_position_embeddings\"",
        ),
        (
            serde_json::json!({"type_vocab_size": u64::MAX}),
            "\"type_vocab_size\"",
        ),
    ];
    for (edit, key) in cases {
        let err = refusal("bert", edit.clone()).unwrap_or_else(|| panic!("{edit} accepted"));
        assert!(
            err.contains("overflow") && err.contains(key),
            "{edit}: {err}"
        );
    }
    let err = refusal(
        "deberta-v2",
        serde_json::json!({"relative_attention": true,
        "position_buckets": i64::MAX}),
    )
    .unwrap();
    assert!(err.contains("position_buckets"), "{err}");
    // xlm-roberta-large's sizes are far inside the bounds.
    let large = serde_json::json!({"vocab_size": 250002, "hidden_size": 1024,
        "num_attention_heads": 16, "num_hidden_layers": 24, "intermediate_size": 4096,
        "max_position_embeddings": 514});
    assert_eq!(refusal("xlm-roberta", large), None);
}

#[test]
fn electra_is_listed_as_supported() {
    assert!(SUPPORTED_MODEL_TYPES.contains(&"electra"));
    let err = ModelConfig::from_str("c.json", r#"{"model_type": "gpt2"}"#).unwrap_err();
    assert!(err.to_string().contains("electra"), "{err}");
}
