//! OCR on the real programs (Tesseract and poppler, which `.ci/run` installs): a page rendered from known
//! text, as an image and as a PDF without a text layer, is read back and its character accuracy reported.

use std::path::Path;

use rag_connectors::fixtures::{char_accuracy, image_pdf, pdf_pages, render_gray, render_png, text_pdf, PdfPage};

const LINES: &[&str] = &[
    "Harbour pump station, maintenance record 2024.",
    "The Kestrel K-40 pump was serviced on 14 March;",
    "its seal water flow was 3.2 litres per minute",
    "and the discharge pressure settled at 11 bar.",
    "Next inspection: September, by the night shift.",
];

fn programs() {
    for (program, package) in [
        ("tesseract", "tesseract-ocr tesseract-ocr-eng"),
        ("pdftoppm", "poppler-utils"),
    ] {
        let found = std::process::Command::new(program).arg("-v").output().is_ok();
        assert!(
            found,
            "{program} is not installed: apt-get install {package} (.ci/run does this)"
        );
    }
}

#[test]
fn a_scanned_page_and_an_image_are_read_by_ocr() {
    programs();
    let truth = LINES.join(" ");
    let page = text_pdf(LINES);
    let (width, height, pixels) = render_gray(&page, 200).unwrap();
    let scan = image_pdf(width, height, &pixels, 200);
    let doc = rag_connectors::load(Path::new("scan.pdf"), &scan).unwrap();
    let accuracy = char_accuracy(&truth, &doc.text);
    println!("OCR character accuracy, scanned PDF page at 200 dpi: {accuracy:.4}");
    assert!(accuracy > 0.95, "accuracy {accuracy}: {}", doc.text);
    assert_eq!(doc.locate(0..10).describe("pdf"), "page 1");
    assert!(
        doc.warnings.iter().any(|w| w.contains("read by OCR")),
        "{:?}",
        doc.warnings
    );

    let png = render_png(&page, 150).unwrap();
    let doc = rag_connectors::load(Path::new("scan.png"), &png).unwrap();
    let accuracy = char_accuracy(&truth, &doc.text);
    println!("OCR character accuracy, PNG at 150 dpi: {accuracy:.4}");
    assert!(accuracy > 0.95, "accuracy {accuracy}: {}", doc.text);

    // A corrupt image is one clear error, not a panic or a stall.
    let err = rag_connectors::load(Path::new("broken.png"), &png[..png.len() / 3]).unwrap_err();
    assert!(err.to_string().contains("broken.png"), "{err}");
    let err = rag_connectors::load(Path::new("noise.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap_err();
    assert!(err.to_string().contains("OCR failed"), "{err}");
}

/// Scanned pages are read several at a time (as many Tesseract runs as cores); each page's text must still land
/// on its own page, in order, between the text pages around them.
#[test]
fn the_scanned_pages_of_a_pdf_are_each_read_onto_their_own_page() {
    programs();
    let facts = [
        "The north quay bollards were painted yellow.",
        "The crane rails were greased on Tuesday.",
        "The east gate lock was replaced in June.",
        "The fuel berth hose failed its pressure test.",
    ];
    let mut pages = vec![PdfPage::Text(vec!["Survey cover page.".into()])];
    for fact in facts {
        let (width, height, pixels) = render_gray(&text_pdf(&[fact]), 200).unwrap();
        pages.push(PdfPage::Scan {
            width,
            height,
            pixels,
            dpi: 200,
        });
    }
    pages.push(PdfPage::Text(vec!["Signed by the harbour master.".into()]));
    let doc = rag_connectors::load(Path::new("survey.pdf"), &pdf_pages(&pages)).unwrap();
    for (i, fact) in facts.iter().enumerate() {
        let word = fact.split(' ').nth(1).unwrap();
        let at = doc
            .text
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} not read: {}", doc.text));
        assert_eq!(
            doc.locate(at..at + 3).describe("pdf"),
            format!("page {}", i + 2),
            "{}",
            doc.text
        );
    }
    let at = doc.text.find("Signed").unwrap();
    assert_eq!(doc.locate(at..at + 3).describe("pdf"), "page 6");
    assert!(
        doc.warnings
            .iter()
            .any(|w| w.contains("4 page(s) without a text layer read by OCR")),
        "{:?}",
        doc.warnings
    );
}

#[test]
fn char_accuracy_counts_edits() {
    assert_eq!(char_accuracy("abcd", "abcd"), 1.0);
    assert_eq!(char_accuracy("abcd", "abed"), 0.75);
    assert_eq!(char_accuracy("a  b", "a b"), 1.0);
    assert_eq!(char_accuracy("abcd", ""), 0.0);
}
