//! Tables for people, JSON for pipelines. Formatting only.

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ContentArrangement, Table};
use serde::Serialize;

/// Prints an aligned table without borders, numbers right-aligned, wrapped to the terminal width.
pub fn print_table<R>(header: &[&str], rows: impl IntoIterator<Item = R>)
where
    R: IntoIterator<Item = String>,
{
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    for (index, name) in header.iter().enumerate() {
        let numeric = matches!(
            *name,
            "MATCHED" | "ARCHIVED" | "PENDING" | "RULES" | "COUNT"
        );
        if let Some(column) = table.column_mut(index) {
            if numeric {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    println!("{table}");
}

pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("applied-archive-rule: cannot write JSON: {e}"),
    }
}
