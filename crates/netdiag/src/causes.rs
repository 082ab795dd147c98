//! `netdiag causes [CAUSE]`: the cause catalogue, or one cause explained with its typical fix,
//! both generated from `netdiag_core::Cause` (see [`netdiag_core::catalogue`]), so the docs
//! (`docs/causes.md`), the JSON and the MCP tools cannot drift from the code.

use netdiag_core::catalogue;
use netdiag_core::render::Format;

/// Renders the catalogue, or one cause's explanation. `Err` is an unknown code (exit 2).
pub fn render(cause: Option<&str>, format: Format) -> Result<String, String> {
    match cause {
        None => Ok(catalogue::render(format)),
        Some(code) => Ok(catalogue::render_explanation(
            catalogue::lookup(code)?,
            format,
        )),
    }
}
