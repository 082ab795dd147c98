//! The `--format` flag, the same for every subcommand (a leaf module: every command's flags use
//! it, it uses none of them).

use clap::ValueEnum;

/// Output formats, the same for every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// The report table.
    Table,
    /// JSON in the report's stable schema (netdiag.report/v1, netdiag.k8s.check/v1, netdiag.cloud.check/v1…).
    Json,
    /// Markdown.
    #[value(alias = "md")]
    Markdown,
}

impl From<FormatArg> for netdiag_core::render::Format {
    fn from(f: FormatArg) -> netdiag_core::render::Format {
        use netdiag_core::render::Format;
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}
