//! aws: exports → estate → verdict. (Being written.)

use serde_json::Value;

/// Does this document look like something the aws CLI prints?
pub fn recognizes(_doc: &Value) -> bool {
    false
}
