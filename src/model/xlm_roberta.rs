//! Model stage: XLM-RoBERTa / RoBERTa / CamemBERT (`XLMRobertaForTokenClassification`).
//!
//! Mirrors <https://github.com/huggingface/transformers/blob/main/src/transformers/models/xlm_roberta/modeling_xlm_roberta.py>:
//! the BERT layout under the `roberta.` prefix, with position ids counted from `padding_idx + 1`
//! over non-padding tokens (`create_position_ids_from_input_ids`).

/// Position ids as RoBERTa computes them: padding tokens get `pad`, the others `pad + 1 + rank`,
/// where rank counts the non-padding tokens before them in the row.
pub fn position_ids(ids: &[u32], len: usize, pad: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(ids.len());
    for row in ids.chunks(len.max(1)) {
        let mut count = 0u32;
        for &id in row {
            if id == pad {
                out.push(pad);
            } else {
                count += 1;
                out.push(pad + count);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions_skip_padding() {
        assert_eq!(
            super::position_ids(&[0, 5, 6, 2, 1, 1], 6, 1),
            vec![2, 3, 4, 5, 1, 1]
        );
        assert_eq!(super::position_ids(&[7, 1, 8, 9], 2, 1), vec![2, 1, 2, 3]);
    }
}
