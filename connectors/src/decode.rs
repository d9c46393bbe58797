//! Decoding of text files: UTF-8, UTF-16 with a byte-order mark, and legacy single-byte text.

use std::path::Path;

use crate::Error;

/// How many leading bytes are inspected to tell text from binary data.
const SNIFF_LEN: usize = 8192;

/// Decodes `bytes` as text; the second value is a warning when a fallback encoding was used.
///
/// Binary data (a NUL byte, or more than 10% control characters in the first 8 KiB, without a UTF-16 byte-order
/// mark) is refused with [`Error::Binary`], and a file with no visible characters with [`Error::Empty`].
pub(crate) fn decode_text(path: &Path, bytes: &[u8]) -> Result<(String, Option<String>), Error> {
    let (text, warning) = if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        let warning = had_errors.then(|| format!("invalid {} sequences replaced", encoding.name()));
        (text.into_owned(), warning)
    } else {
        if looks_binary(bytes) {
            return Err(Error::Binary {
                path: path.to_path_buf(),
            });
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_owned(), None),
            Err(_) => {
                // Not UTF-8 and not binary: most likely Latin-1 or its Windows superset, which decodes every
                // byte, so no text is dropped.
                let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
                (
                    text.into_owned(),
                    Some("not valid UTF-8; decoded as Windows-1252 (Latin-1)".to_owned()),
                )
            }
        }
    };
    if text.trim().is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((text, warning))
}

fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    control * 10 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<(String, Option<String>), Error> {
        decode_text(Path::new("f.txt"), bytes)
    }

    #[test]
    fn utf8_passes_through() {
        assert_eq!(decode("héllo".as_bytes()).unwrap(), ("héllo".to_owned(), None));
    }

    #[test]
    fn latin1_is_decoded_with_a_warning() {
        let (text, warning) = decode(b"caf\xe9 cr\xe8me").unwrap();
        assert_eq!(text, "café crème");
        assert!(warning.unwrap().contains("Windows-1252"));
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in "pump 12 bar".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode(&bytes).unwrap().0, "pump 12 bar");
    }

    #[test]
    fn binary_and_empty_are_refused() {
        assert!(matches!(
            decode(b"\x7fELF\x02\x01\x01\x00\x00"),
            Err(Error::Binary { .. })
        ));
        assert!(matches!(decode(b""), Err(Error::Empty { .. })));
        assert!(matches!(decode(b" \n\t "), Err(Error::Empty { .. })));
    }
}
