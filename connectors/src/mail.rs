//! Saved mail: one message (`.eml`), a mailbox (`.mbox`, messages split at their `From ` lines), or an
//! Outlook message (`.msg`, a compound file). `.eml`/`.mbox` are parsed by `mail-parser` (MIME, transfer
//! encodings, charsets; an HTML-only body is turned into text), `.msg` by `msg_parser`; both become a
//! [`Message`] that is written the same way. Each message is a numbered part whose heading is its subject,
//! followed by who sent it and when, its text, and its attachments, each read by the connector of its own
//! format (a .docx attachment as a Word document) under an `Attachment: name` heading. A citation names the
//! message: `message 3 (Re: pump pressures)`.
//!
//! Bounds: an attachment over [`MAX_ATTACHMENT_BYTES`] is not read (a warning names it); attached messages
//! and mailboxes are not opened (one level of mail only).

use std::io::Cursor;
use std::path::Path;

use mail_parser::{MessageParser, MimeHeaders};

use crate::blocks::Blocks;
use crate::contain::contain;
use crate::document::{Document, Heading};
use crate::{Connector, DocKind, Error};

/// Attachments larger than this (decoded) are not read.
const MAX_ATTACHMENT_BYTES: usize = 32 << 20;

/// Loads `.eml`, `.mbox` and `.msg` files; the [`DocKind`] it carries says which.
pub(crate) struct MailConnector(pub(crate) DocKind);

impl Connector for MailConnector {
    fn load(&self, path: &Path, bytes: &[u8]) -> Result<Document, Error> {
        let mut out = Blocks::default();
        let mut warnings = Vec::new();
        let invalid = |reason: String| Error::Invalid {
            path: path.to_path_buf(),
            what: match self.0.name() {
                "mbox" => "an .mbox mailbox",
                "msg" => "an Outlook .msg message",
                _ => "an .eml message",
            },
            reason,
        };
        match self.0.name() {
            "mbox" => {
                let mut n = 0u32;
                for message in mail_parser::mailbox::mbox::MessageIterator::new(Cursor::new(bytes)) {
                    let message = message.map_err(|e| invalid(format!("reading message {}: {e}", n + 1)))?;
                    n += 1;
                    mime_message(&mut out, n, message.contents(), &mut warnings);
                }
                if n == 0 {
                    return Err(invalid(
                        "no message found (a mailbox's messages start with \"From \" lines)".into(),
                    ));
                }
            }
            "msg" => {
                // Contained: the compound-file reader and the RTF decompressor may panic on a damaged file.
                contain(|| {
                    let msg = msg_parser::Outlook::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
                    outlook_message(&mut out, &msg, path, &mut warnings);
                    Ok(())
                })
                .map_err(|panic| invalid(format!("damaged compound file ({panic})")))??;
            }
            _ => mime_message(&mut out, 1, bytes, &mut warnings),
        }
        let title = match self.0.name() {
            "mbox" => None,
            _ => out.outline.first().map(|h| h.text.clone()),
        };
        let mut doc = out.into_parts(path, self.0, title)?;
        doc.warnings = warnings;
        Ok(doc)
    }
}

/// One message, whichever format it was saved in, borrowing its bodies and attachments from the parser.
struct Message<'a> {
    subject: String,
    /// `Name <address>`, or whichever of the two is known.
    from: Option<String>,
    to: Option<String>,
    /// RFC 3339.
    date: Option<String>,
    /// Plain-text bodies, in order.
    bodies: Vec<String>,
    attachments: Vec<Attached<'a>>,
}

struct Attached<'a> {
    name: String,
    contents: &'a [u8],
    /// An attached message (`message/rfc822`, an embedded .msg): not opened.
    is_message: bool,
}

/// `Name <address>`, `Name`, or `address`; `None` when neither is known.
fn person(name: Option<&str>, address: Option<&str>) -> Option<String> {
    let name = name.map(str::trim).filter(|s| !s.is_empty());
    let address = address.map(str::trim).filter(|s| !s.is_empty());
    match (name, address) {
        (Some(name), Some(addr)) if name != addr => Some(format!("{name} <{addr}>")),
        (Some(one), _) | (None, Some(one)) => Some(one.to_owned()),
        (None, None) => None,
    }
}

/// Appends MIME message `n` (its raw bytes, as in an .eml file or one message of a mailbox) to `out`.
fn mime_message(out: &mut Blocks, n: u32, raw: &[u8], warnings: &mut Vec<String>) {
    let Some(message) = MessageParser::default().parse(raw) else {
        warnings.push(format!("message {n}: not a mail message, skipped"));
        return;
    };
    let mut bodies = Vec::new();
    while let Some(body) = message.body_text(bodies.len()) {
        bodies.push(body.into_owned());
    }
    let parsed = Message {
        subject: message.subject().unwrap_or_default().to_owned(),
        from: message
            .from()
            .and_then(|f| f.first())
            .and_then(|a| person(a.name(), a.address())),
        to: message
            .to()
            .and_then(|t| t.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        date: message.date().map(|d| d.to_rfc3339()),
        bodies,
        attachments: message
            .attachments()
            .map(|a| Attached {
                name: a.attachment_name().unwrap_or("unnamed").to_owned(),
                contents: a.contents(),
                is_message: a.is_message(),
            })
            .collect(),
    };
    write_message(out, n, parsed, warnings);
}

/// Appends an Outlook message to `out` as message 1.
fn outlook_message(out: &mut Blocks, msg: &msg_parser::Outlook, path: &Path, warnings: &mut Vec<String>) {
    let parsed = Message {
        subject: msg.subject.clone(),
        from: person(Some(&msg.sender.name), Some(&msg.sender.email)),
        to: msg
            .to
            .first()
            .and_then(|p| person(None, Some(&p.email)).or_else(|| person(Some(&p.name), None))),
        date: [&msg.client_submit_time, &msg.message_delivery_time, &msg.creation_time]
            .into_iter()
            .find(|t| !t.is_empty())
            .cloned(),
        bodies: outlook_body(msg, path, warnings).into_iter().collect(),
        attachments: msg
            .attachments
            .iter()
            .map(|a| Attached {
                name: [&a.long_file_name, &a.file_name, &a.display_name]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .map_or_else(|| "unnamed".to_owned(), |s| s.clone()),
                contents: &a.payload_bytes,
                is_message: a.is_embedded_message(),
            })
            .collect(),
    };
    write_message(out, 1, parsed, warnings);
}

/// The text of an Outlook message's body: the plain-text body when there is one, else the HTML body (a binary
/// property, which msg_parser gives as hex), else the HTML inside the RTF body, else the RTF body's text.
fn outlook_body(msg: &msg_parser::Outlook, path: &Path, warnings: &mut Vec<String>) -> Option<String> {
    if !msg.body.trim().is_empty() {
        return Some(msg.body.clone());
    }
    let load = |connector: &dyn Connector, bytes: &[u8], what: &str, warnings: &mut Vec<String>| match connector
        .load(path, bytes)
    {
        Ok(doc) => Some(doc.text),
        Err(Error::Empty { .. }) => None,
        Err(e) => {
            warnings.push(format!("message 1: {what} body: {e}"));
            None
        }
    };
    if !msg.html.trim().is_empty() {
        let html = hex_decode(&msg.html).unwrap_or_else(|| msg.html.clone().into_bytes());
        return load(&crate::html::HtmlConnector, &html, "HTML", warnings);
    }
    // The RTF body's header declares its size once inflated: refuse one beyond the attachment limit before
    // msg_parser allocates it.
    let declared = msg
        .rtf_compressed
        .get(8..16)
        .and_then(hex_decode)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    match declared {
        None => None,
        Some(size) if size > MAX_ATTACHMENT_BYTES => {
            warnings.push(format!("message 1: RTF body of {} MiB not read", size >> 20));
            None
        }
        Some(_) => match msg.html_from_rtf() {
            Some(html) => load(&crate::html::HtmlConnector, html.as_bytes(), "HTML", warnings),
            None => {
                let rtf = msg.rtf_decompressed()?;
                load(&crate::rtf::RtfConnector, &rtf, "RTF", warnings)
            }
        },
    }
}

/// The bytes a string of hex digits spells; `None` when it is not one.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Appends message `n` to `out`: its subject as a level-1 heading, a `From: ...; To: ...; Date: ...` line,
/// its bodies, and each attachment read by its own connector.
fn write_message(out: &mut Blocks, n: u32, message: Message<'_>, warnings: &mut Vec<String>) {
    out.part(n);
    let subject = message.subject.trim();
    out.block(if subject.is_empty() { "(no subject)" } else { subject }, 1);
    let header: Vec<String> = [("From", message.from), ("To", message.to), ("Date", message.date)]
        .into_iter()
        .filter_map(|(field, value)| value.map(|v| format!("{field}: {v}")))
        .collect();
    if !header.is_empty() {
        out.block(&header.join("; "), 0);
    }
    for body in &message.bodies {
        out.verbatim(&squeeze(body));
    }
    for attachment in message.attachments {
        let name = attachment.name;
        if attachment.is_message {
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
        if attachment.contents.len() > MAX_ATTACHMENT_BYTES {
            warnings.push(format!(
                "message {n}: attachment {name} of {} MiB is over the {} MiB limit, not read",
                attachment.contents.len() >> 20,
                MAX_ATTACHMENT_BYTES >> 20
            ));
            continue;
        }
        match kind.connector().load(Path::new(&name), attachment.contents) {
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
