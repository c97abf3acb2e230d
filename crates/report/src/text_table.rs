//! The one plain-text table formatter of every terminal output (`isobench
//! run`, `report --style terminal`, `compare`, `serve-bench`), and the
//! wrapping of the lines printed under a table.
//!
//! Widths are counted in characters (`×`, `±`, `…`, `—` and superscript
//! digits are one column each in a terminal).

/// The width the terminal outputs fit by default.
pub const TERMINAL_COLUMNS: usize = 100;

/// Spaces between two columns.
const GAP: usize = 2;

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// One line of the table body.
#[derive(Debug, Clone)]
enum Line {
    /// One cell per column.
    Cells(Vec<String>),
    /// A line of its own under the previous row (e.g. a failure's message),
    /// indented by two spaces and not counted in the column widths.
    Under(String),
}

/// A plain-text table: a header, a rule, and rows of aligned cells.
#[derive(Debug, Clone)]
pub struct TextTable {
    header: Vec<String>,
    align: Vec<Align>,
    lines: Vec<Line>,
}

impl TextTable {
    /// A table with these columns (header text and alignment).
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = (S, Align)>) -> TextTable {
        let (header, align) = columns.into_iter().map(|(h, a)| (h.into(), a)).unzip();
        TextTable {
            header,
            align,
            lines: Vec::new(),
        }
    }

    /// Appends a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len(), String::new());
        self.lines.push(Line::Cells(cells));
    }

    /// Appends a line under the previous row (not part of any column).
    pub fn under(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Under(text.into()));
    }

    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.header.len()
    }

    /// The width of each column: its widest cell or header.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for line in &self.lines {
            if let Line::Cells(cells) = line {
                for (w, cell) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        widths
    }

    /// The width of the widest row, separators included.
    pub fn width(&self) -> usize {
        let widths = self.widths();
        widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1)
    }

    /// The width of every column but `column`, separators included: what
    /// is left for `column` within `total` is `total - width_without(column)`.
    pub fn width_without(&self, column: usize) -> usize {
        let widths = self.widths();
        widths
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != column)
            .map(|(_, w)| w + GAP)
            .sum()
    }

    /// The header, a rule of dashes as wide as the table, and the rows
    /// (trailing spaces trimmed), each line ending with a newline.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String]| -> String {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(&" ".repeat(GAP));
                }
                let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
                match self.align[i] {
                    Align::Left => {
                        out.push_str(cell);
                        out.push_str(&pad);
                    }
                    Align::Right => {
                        out.push_str(&pad);
                        out.push_str(cell);
                    }
                }
            }
            out.trim_end().to_string()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&"-".repeat(self.width()));
        out.push('\n');
        for l in &self.lines {
            match l {
                Line::Cells(cells) => out.push_str(&line(cells)),
                Line::Under(text) => {
                    out.push_str("  ");
                    out.push_str(text);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// The last cell of a row whose text may not fit: `long` when the table
/// has room for it (or always, when wide), else `short` with a footnote
/// mark, the long text going to a footnote about `who`.
#[derive(Debug, Clone)]
pub(crate) struct LastCell {
    /// Whom the footnote is about (an environment).
    pub who: String,
    /// The short form (a verdict's word).
    pub short: String,
    /// The whole text.
    pub long: String,
}

/// A table of `rows` whose last column is `last`, fitted to
/// [`TERMINAL_COLUMNS`] unless `wide`, and the footnotes of the cells that
/// did not fit.
pub(crate) fn fitted_table(
    columns: &[(String, Align)],
    rows: Vec<Vec<String>>,
    last: Vec<LastCell>,
    wide: bool,
) -> (TextTable, crate::notes::Footnotes) {
    let mut probe = TextTable::new(columns.iter().cloned());
    for (row, cell) in rows.iter().zip(&last) {
        let mut row = row.clone();
        row.push(cell.short.clone());
        probe.row(row);
    }
    let room = TERMINAL_COLUMNS.saturating_sub(probe.width_without(columns.len() - 1));
    let mut footnotes = crate::notes::Footnotes::default();
    let mut table = TextTable::new(columns.iter().cloned());
    for (mut row, cell) in rows.into_iter().zip(last) {
        row.push(if wide || cell.long.chars().count() <= room {
            cell.long
        } else {
            let mark = footnotes.mark(&cell.who, cell.long);
            format!("{}{mark}", cell.short)
        });
        table.row(row);
    }
    (table, footnotes)
}

/// `text` broken at spaces into lines of at most `width` characters: the
/// first starts with `first`, the others with `rest` (a hanging indent). A
/// word longer than a line is cut.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let len = current.chars().count();
        let needed = word.chars().count() + usize::from(!empty);
        if !empty && len + needed > width {
            lines.push(std::mem::replace(&mut current, rest.to_string()));
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        let room = width.saturating_sub(current.chars().count()).max(1);
        let mut chars = word.chars().peekable();
        loop {
            let piece: String = chars.by_ref().take(room).collect();
            current.push_str(&piece);
            empty = false;
            if chars.peek().is_none() {
                break;
            }
            lines.push(std::mem::replace(&mut current, rest.to_string()));
        }
    }
    if !empty || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// [`wrap`] at [`TERMINAL_COLUMNS`], joined with newlines, ending with one.
pub(crate) fn wrapped(text: &str, first: &str, rest: &str) -> String {
    let mut out = wrap(text, TERMINAL_COLUMNS, first, rest).join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_rules() {
        let mut t = TextTable::new([("name", Align::Left), ("n", Align::Right)]);
        t.row(vec!["native".into(), "1.5".into()]);
        t.row(vec!["firecracker".into(), "12.25".into()]);
        t.under("error: x");
        assert_eq!(
            t.render(),
            "name             n\n------------------\nnative         1.5\nfirecracker  12.25\n  error: x\n"
        );
        assert_eq!(t.width(), 18);
        assert_eq!(t.width_without(1), 13);
    }

    #[test]
    fn wraps_with_a_hanging_indent_and_cuts_long_words() {
        let lines = wrap("aaa bbb ccc ddd", 9, "- ", "  ");
        assert_eq!(lines, ["- aaa bbb", "  ccc ddd"]);
        let lines = wrap("abcdefghijkl", 6, "", "");
        assert_eq!(lines, ["abcdef", "ghijkl"]);
        assert_eq!(wrap("", 10, "x ", ""), ["x "]);
        for line in wrap(&"word ".repeat(100), 100, "warning: ", "  ") {
            assert!(line.chars().count() <= 100, "{line}");
        }
    }
}
