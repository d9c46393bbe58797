//! Saved mail: one message (`.eml`) or a mailbox (`.mbox`, messages split at their `From ` lines), parsed by
//! `mail-parser` (MIME, transfer encodings, charsets; an HTML-only body is turned into text). Each message is
//! a numbered part whose heading is its subject, followed by who sent it and when, its text, and its
//! attachments, each read by the connector of its own format (a .docx attachment as a Word document) under
//! an `Attachment: name` heading. A citation names the message: `message 3 (Re: pump pressures)`.
//!
//! Bounds: an attachment over [`MAX_ATTACHMENT_BYTES`] is not read (a warning names it); attached messages
//! and mailboxes are not opened (one level of mail only).

use std::io::Cursor;
use std::path::Path;

use mail_parser::{MessageParser, MimeHeaders};

use crate::blocks::Blocks;
use crate::document::{Document, Heading};
use crate::{Connector, DocKind, Error};

/// Attachments larger than this (decoded) are not read.
const MAX_ATTACHMENT_BYTES: usize = 32 << 20;

/// Loads `.eml` and `.mbox` files; the [`DocKind`] it carries says which.
pub(crate) struct MailConnector(pub(crate) DocKind);

impl Connector for MailConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let mut out = Blocks::default();
        let mut warnings = Vec::new();
        let invalid = |reason: String| Error::Invalid {
            path: path.to_path_buf(),
            what: if self.0.name() == "mbox" {
                "an .mbox mailbox"
            } else {
                "an .eml message"
            },
            reason,
        };
        if self.0.name() == "mbox" {
            let mut n = 0u32;
            for message in mail_parser::mailbox::mbox::MessageIterator::new(Cursor::new(bytes)) {
                let message = message.map_err(|e| invalid(format!("reading message {}: {e}", n + 1)))?;
                n += 1;
                message_text(&mut out, n, message.contents(), &mut warnings);
            }
            if n == 0 {
                return Err(invalid(
                    "no message found (a mailbox's messages start with \"From \" lines)".into(),
                ));
            }
        } else {
            message_text(&mut out, 1, bytes, &mut warnings);
        }
        let title = if self.0.name() == "eml" {
            out.outline.first().map(|h| h.text.clone())
        } else {
            None
        };
        let mut doc = out.into_parts(path, self.0, title)?;
        doc.warnings = warnings;
        Ok(doc)
    }
}

/// Appends message `n` (its raw bytes) to `out`.
fn message_text(out: &mut Blocks, n: u32, raw: &[u8], warnings: &mut Vec<String>) {
    let Some(message) = MessageParser::default().parse(raw) else {
        warnings.push(format!("message {n}: not a mail message, skipped"));
        return;
    };
    out.part(n);
    let subject = message
        .subject()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("(no subject)");
    out.block(subject, 1);
    let mut header = Vec::new();
    if let Some(from) = message.from().and_then(|f| f.first()) {
        let who = match (from.name(), from.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (Some(name), None) => name.to_owned(),
            (None, Some(addr)) => addr.to_owned(),
            (None, None) => String::new(),
        };
        if !who.is_empty() {
            header.push(format!("From: {who}"));
        }
    }
    if let Some(to) = message.to().and_then(|t| t.first()) {
        if let Some(addr) = to.address() {
            header.push(format!("To: {addr}"));
        }
    }
    if let Some(date) = message.date() {
        header.push(format!("Date: {}", date.to_rfc3339()));
    }
    if !header.is_empty() {
        out.block(&header.join("; "), 0);
    }
    let mut i = 0;
    while let Some(body) = message.body_text(i) {
        out.verbatim(&squeeze(&body));
        i += 1;
    }
    for attachment in message.attachments() {
        let name = attachment.attachment_name().unwrap_or("unnamed").to_owned();
        if attachment.is_message() {
            warnings.push(format!("message {n}: attached message {name} not opened"));
            continue;
        }
        let Some(kind) = DocKind::from_path(Path::new(&name)) else {
            continue;
        };
        if matches!(kind, DocKind::Mail(_)) {
            warnings.push(format!("message {n}: attached mailbox {name} not opened"));
            continue;
        }
        let contents = attachment.contents();
        if contents.len() > MAX_ATTACHMENT_BYTES {
            warnings.push(format!(
                "message {n}: attachment {name} of {} MiB is over the {} MiB limit, not read",
                contents.len() >> 20,
                MAX_ATTACHMENT_BYTES >> 20
            ));
            continue;
        }
        match kind.connector().load(Path::new(&name), contents) {
            Ok(doc) => {
                out.block(&format!("Attachment: {name}"), 2);
                let base = out.text.len() + 2;
                out.verbatim(&doc.text);
                // The attachment's own headings, below its heading.
                out.outline.extend(doc.outline.iter().map(|h| Heading {
                    offset: base + h.offset,
                    end: base + h.end,
                    level: h.level.saturating_add(2).min(9),
                    text: h.text.clone(),
                }));
            }
            Err(Error::Empty { .. }) => {}
            Err(e) => warnings.push(format!("message {n}: attachment {name}: {e}")),
        }
    }
}

/// Text with runs of blank lines squeezed to one and trailing spaces removed.
fn squeeze(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_is_messages_with_subject_sender_and_attachments() {
        let mbox = "From alice@example.com Mon Jan  1 00:00:00 2024\r\n\
From: Alice <alice@example.com>\r\nTo: ops@example.com\r\nSubject: Pump pressures\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
The Kestrel pump runs at 11 bar.\r\n--b\r\nContent-Type: text/csv; name=\"limits.csv\"\r\nContent-Disposition: attachment; filename=\"limits.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nTW9kZWwsTGltaXQKT3NwcmV5LDE2IGJhcgo=\r\n--b--\r\n\
From bob@example.com Tue Jan  2 00:00:00 2024\r\nFrom: bob@example.com\r\nSubject: Re: Pump pressures\r\n\r\nThanks, noted.\r\n";
        let doc = MailConnector(DocKind::Mail("mbox"))
            .load(Path::new("ops.mbox"), mbox.as_bytes())
            .unwrap();
        assert!(
            doc.text.contains(
                "# Pump pressures\n\nFrom: Alice <alice@example.com>; To: ops@example.com; Date: 2024-01-01T09:00:00Z"
            ),
            "{}",
            doc.text
        );
        assert!(doc.text.contains("## Attachment: limits.csv"), "{}", doc.text);
        assert!(doc.text.contains("Model: Osprey; Limit: 16 bar"), "{}", doc.text);
        let at = doc.text.find("Osprey").unwrap();
        assert_eq!(
            doc.locate(at..at + 5).describe("mbox"),
            "message 1 (Pump pressures › Attachment: limits.csv › limits)"
        );
        let at = doc.text.find("Thanks").unwrap();
        assert_eq!(
            doc.locate(at..at + 5).describe("mbox"),
            "message 2 (Re: Pump pressures)"
        );
    }
}
