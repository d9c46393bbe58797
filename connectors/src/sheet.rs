//! Spreadsheets (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`, through `calamine`) and delimited data (`.csv`,
//! `.tsv`, through `csv`): each sheet is a level-1 heading (its name), its first non-empty row the header, and
//! every later row one line with each cell under its column's header ("Region: North; Revenue: 1200"), so any
//! chunk of a sheet carries the header names with its values. A citation names the sheet and the rows
//! (`sheet Sales, rows 2-40`), the row numbers being the spreadsheet's own (1-based; a CSV's record
//! numbers, the header being row 1).
//!
//! Bounds: a zip-based workbook whose parts declare more than [`archive::MAX_TOTAL_BYTES`] inflated is refused
//! before the library reads it (a zip bomb); `.xlsx` sheets are streamed cell by cell; the text stops at
//! [`MAX_TEXT_BYTES`] with a warning naming the last row read.

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, DataRef, Ods, Reader, Sheets, Xls, Xlsb, Xlsx};

use crate::archive::{self, Archive};
use crate::blocks::labelled_row;
use crate::contain::contain;
use crate::document::{Document, Heading, LocationMap};
use crate::{Connector, DocKind, Error};

/// Most bytes of text one workbook yields; the rest is left out with a warning.
const MAX_TEXT_BYTES: usize = 64 << 20;

/// Columns read per row (Excel's own limit is 16,384).
const MAX_COLUMNS: usize = 16_384;

/// Loads spreadsheets and delimited data; the [`DocKind`] it carries says which.
pub(crate) struct SheetConnector(pub(crate) DocKind);

/// The text being built: lines, the row each came from, sheets as headings.
#[derive(Default)]
struct SheetText {
    text: String,
    rows: Vec<(usize, u32)>,
    outline: Vec<Heading>,
    /// The header of the sheet being read: its first non-empty row.
    header: Option<Vec<String>>,
    /// Set when the text reached [`MAX_TEXT_BYTES`]: the sheet and row where it stopped.
    truncated: Option<(String, u32)>,
}

impl SheetText {
    fn sheet(&mut self, name: &str, first_row: u32) {
        self.header = None;
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let offset = self.text.len();
        self.rows.push((offset, first_row));
        self.text.push_str("# ");
        self.text.push_str(name);
        self.text.push('\n');
        self.outline.push(Heading {
            offset,
            end: self.text.len(),
            level: 1,
            text: name.to_owned(),
        });
    }

    /// Starts sheet `name` unless it is the sheet being read.
    fn sheet_once(&mut self, name: &str, first_row: u32) {
        if self.outline.last().is_none_or(|h| h.text != name) {
            self.sheet(name, first_row);
        }
    }

    /// Adds one line for row `row`; false once the text is full.
    fn line(&mut self, sheet: &str, row: u32, line: &str) -> bool {
        if line.trim().is_empty() {
            return true;
        }
        if self.text.len() + line.len() > MAX_TEXT_BYTES {
            self.truncated.get_or_insert_with(|| (sheet.to_owned(), row));
            return false;
        }
        self.rows.push((self.text.len(), row));
        self.text.push_str(line);
        self.text.push('\n');
        true
    }

    /// Adds row `row` of the sheet: the first non-empty row is the header (shown once as
    /// `Columns: a; b; c`), later ones labelled by it. False once the text is full.
    fn row(&mut self, sheet: &str, row: u32, cells: Vec<String>) -> bool {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return true;
        }
        match &self.header {
            None => {
                let names: Vec<&str> = cells.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
                let line = format!("Columns: {}", names.join("; "));
                self.header = Some(cells);
                self.line(sheet, row, &line)
            }
            Some(header) => {
                let line = labelled_row(header, &cells);
                self.line(sheet, row, &line)
            }
        }
    }

    fn into_document(self, path: &Path, kind: DocKind) -> Result<Document, Error> {
        // Each sheet heading is one row entry and one outline entry; a line of cells only a row entry.
        if self.rows.len() == self.outline.len() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut doc = Document::new(kind, self.text, LocationMap::Rows(self.rows));
        doc.outline = self.outline;
        if let Some((sheet, row)) = self.truncated {
            doc.warnings.push(format!(
                "text over {} MiB: indexed up to row {row} of sheet {sheet}, the rest left out",
                MAX_TEXT_BYTES >> 20
            ));
        }
        Ok(doc)
    }
}

impl Connector for SheetConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let what = match self.0.name() {
            "xlsx" => "an .xlsx",
            "xlsm" => "an .xlsm",
            "xlsb" => "an .xlsb",
            "xls" => "an .xls",
            "ods" => "an .ods",
            "csv" => "a .csv",
            _ => "a .tsv",
        };
        match self.0.name() {
            "csv" => delimited(path, bytes, b',', self.0),
            "tsv" => delimited(path, bytes, b'\t', self.0),
            "xls" => contained_workbook(path, bytes, what, self.0),
            _ => {
                // Zip-based: refuse a bomb before the library inflates it.
                let mut archive = Archive::open(path, bytes, what)?;
                let declared = archive.declared_size();
                if declared > archive::MAX_TOTAL_BYTES {
                    return Err(archive.invalid(format!(
                        "its parts would inflate to {declared} bytes, over the limit of {} (a zip bomb?)",
                        archive::MAX_TOTAL_BYTES
                    )));
                }
                contained_workbook(path, bytes, what, self.0)
            }
        }
    }
}

/// [`workbook`], [contained](crate::contain): calamine panics on some damaged files (a cut `.xls`).
fn contained_workbook(path: &Path, bytes: &[u8], what: &'static str, kind: DocKind) -> Result<Document, Error> {
    contain(|| workbook(path, bytes, what, kind)).unwrap_or_else(|panic| {
        Err(Error::Invalid {
            path: path.to_path_buf(),
            what,
            reason: format!("damaged workbook ({panic})"),
        })
    })
}

/// A cell as text: numbers without a trailing `.0`, dates as `YYYY-MM-DD` (with the time when it has one).
fn cell_text(data: &Data) -> String {
    match data {
        Data::DateTime(d) if d.is_datetime() => excel_date(d.as_f64()),
        Data::Float(f) => format_float(*f),
        other => other.to_string(),
    }
}

fn cell_ref_text(data: &DataRef<'_>) -> String {
    match data {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => format_float(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) if d.is_datetime() => excel_date(d.as_f64()),
        DataRef::DateTime(d) => format_float(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// An Excel serial date (days since 1899-12-30, the fraction the time of day) as `YYYY-MM-DD[ HH:MM[:SS]]`.
fn excel_date(serial: f64) -> String {
    if !serial.is_finite() || !(-1e7..1e7).contains(&serial) {
        return format_float(serial);
    }
    let days = serial.floor() as i64;
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    // Days since 1970-01-01 (civil-from-days, Howard Hinnant's algorithm).
    let z = days - 25_569 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let date = format!("{y:04}-{m:02}-{d:02}");
    match secs {
        0 | 86_400 => date,
        s if s % 60 == 0 => format!("{date} {:02}:{:02}", s / 3600, s / 60 % 60),
        s => format!("{date} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

fn workbook(path: &Path, bytes: &[u8], what: &'static str, kind: DocKind) -> Result<Document, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: path.to_path_buf(),
        what,
        reason,
    };
    // Opened by the format its name says (not by sniffing), so that the reason a file cannot be read is
    // the reader's own ("Workbook is password protected"), not "cannot detect file format".
    let cursor = Cursor::new(bytes);
    let opened = match kind.name() {
        "xls" => Xls::new(cursor).map(Sheets::Xls).map_err(calamine::Error::from),
        "xlsb" => Xlsb::new(cursor).map(Sheets::Xlsb).map_err(calamine::Error::from),
        "ods" => Ods::new(cursor).map(Sheets::Ods).map_err(calamine::Error::from),
        _ => Xlsx::new(cursor).map(Sheets::Xlsx).map_err(calamine::Error::from),
    };
    let mut book = opened.map_err(|e| invalid(format!("cannot open the workbook: {e}")))?;
    let mut out = SheetText::default();
    let mut skipped = Vec::new();
    let names = book.sheet_names();
    for name in names {
        let full = match &mut book {
            Sheets::Xlsx(xlsx) => {
                let mut cells = match xlsx.worksheet_cells_reader(&name) {
                    Ok(cells) => cells,
                    Err(e) => {
                        // A chart sheet or a damaged part: the other sheets are still read.
                        skipped.push(format!("sheet {name} not read: {e}"));
                        continue;
                    }
                };
                // Cells come row by row; gather one row at a time.
                let mut current: Option<(u32, Vec<String>)> = None;
                let mut full = true;
                loop {
                    let cell = match cells.next_cell() {
                        Ok(Some(cell)) => cell,
                        Ok(None) => break,
                        Err(e) => return Err(invalid(format!("sheet {name}: {e}"))),
                    };
                    let (r, c) = cell.get_position();
                    let value = cell_ref_text(cell.get_value());
                    if value.trim().is_empty() || c as usize >= MAX_COLUMNS {
                        continue;
                    }
                    if current.as_ref().is_some_and(|(row, _)| *row != r + 1) {
                        if let Some((row, cols)) = current.take() {
                            if !out.row(&name, row, cols) {
                                full = false;
                                break;
                            }
                        }
                    }
                    let (_, cols) = current.get_or_insert_with(|| {
                        out.sheet_once(&name, r + 1);
                        (r + 1, Vec::new())
                    });
                    if cols.len() <= c as usize {
                        cols.resize(c as usize + 1, String::new());
                    }
                    cols[c as usize] = value;
                }
                match current.take() {
                    Some((row, cols)) if full => out.row(&name, row, cols),
                    _ => full,
                }
            }
            _ => {
                let range = match book.worksheet_range(&name) {
                    Ok(range) => range,
                    Err(e) => {
                        skipped.push(format!("sheet {name} not read: {e}"));
                        continue;
                    }
                };
                let Some((row0, col0)) = range.start() else { continue };
                out.sheet(&name, row0 + 1);
                let mut full = true;
                for (i, cells) in range.rows().enumerate() {
                    // Columns before the range's first are empty; keep positions for the header.
                    let mut line = vec![String::new(); (col0 as usize).min(MAX_COLUMNS)];
                    line.extend(cells.iter().take(MAX_COLUMNS).map(cell_text));
                    if !out.row(&name, row0 + 1 + i as u32, line) {
                        full = false;
                        break;
                    }
                }
                full
            }
        };
        if !full {
            break;
        }
    }
    if out.outline.is_empty() {
        if let Some(first) = skipped.into_iter().next() {
            return Err(invalid(first));
        }
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut doc = out.into_document(path, kind)?;
    doc.warnings.extend(skipped);
    Ok(doc)
}

fn delimited(path: &Path, bytes: &[u8], delimiter: u8, kind: DocKind) -> Result<Document, Error> {
    let (text, warning) = crate::decode::decode_text(path, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = SheetText::default();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_owned());
    let mut error = None;
    let mut record = csv::StringRecord::new();
    let mut number = 0u32;
    // Newlines counted so far: up to byte .0, .1 of them.
    let mut counted = (0usize, 0usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
        // The record's line in the file: blank lines are skipped by the reader (so records are not lines),
        // and a record's position is where the blank lines before it start.
        let mut start = record
            .position()
            .map_or(counted.0, |p| p.byte() as usize)
            .min(text.len());
        while matches!(text.as_bytes().get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        if start >= counted.0 {
            counted.1 += count_newlines(&text.as_bytes()[counted.0..start]);
            counted.0 = start;
        }
        number = u32::try_from(counted.1 + 1).unwrap_or(u32::MAX);
        out.sheet_once(&name, number);
        let cells: Vec<String> = record.iter().take(MAX_COLUMNS).map(str::to_owned).collect();
        if !out.row(&name, number, cells) {
            break;
        }
    }
    let mut doc = out.into_document(path, kind)?;
    doc.warnings.extend(warning);
    if let Some(e) = error {
        doc.warnings
            .push(format!("stopped at a malformed record after row {number}: {e}"));
    }
    Ok(doc)
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_header_and_row_numbers() {
        let csv = "Region,Quarter,Revenue\nNorth,Q1,1200\n\nSouth,Q1,\"3,400\"\n";
        let doc = SheetConnector(DocKind::Sheet("csv"))
            .load(Path::new("sales.csv"), csv.as_bytes())
            .unwrap();
        assert_eq!(
            doc.text,
            "# sales\nColumns: Region; Quarter; Revenue\nRegion: North; Quarter: Q1; Revenue: 1200\n\
             Region: South; Quarter: Q1; Revenue: 3,400\n"
        );
        let at = doc.text.find("Region: South").unwrap();
        assert_eq!(doc.locate(at..at + 10).lines, Some((4, 4)));
        assert_eq!(doc.locate(at..at + 10).section.as_deref(), Some("sales"));
        assert_eq!(doc.locate(at..at + 10).describe("csv"), "sheet sales, row 4");
    }

    #[test]
    fn tsv_is_split_at_tabs() {
        let tsv = "Part\tBin\nimpeller, bronze\tB-17\n";
        let doc = SheetConnector(DocKind::Sheet("tsv"))
            .load(Path::new("spares.tsv"), tsv.as_bytes())
            .unwrap();
        assert!(doc.text.contains("Part: impeller, bronze; Bin: B-17"), "{}", doc.text);
    }

    #[test]
    fn dates_and_numbers_read_as_people_write_them() {
        assert_eq!(excel_date(45_292.0), "2024-01-01");
        assert_eq!(excel_date(45_292.5), "2024-01-01 12:00");
        assert_eq!(excel_date(1.0), "1899-12-31");
        assert_eq!(format_float(1250000.0), "1250000");
        assert_eq!(format_float(0.25), "0.25");
    }

    #[test]
    fn a_header_only_or_empty_csv_is_empty_or_short() {
        let err = SheetConnector(DocKind::Sheet("csv"))
            .load(Path::new("e.csv"), b",,\n,,\n")
            .unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
    }
}
