#!/usr/bin/env python3
"""Writes corpus/manuals/pump.pdf: a small multi-page PDF with a real text layer, made for the tests.

Plain PDF 1.4 with the standard Helvetica font, no dependencies, deterministic bytes. Run from tests/data/.
"""

PAGES = [
    [
        "Aquaflow P-200 Centrifugal Pump",
        "Operating Manual, revision C",
        "",
        "This manual covers installation, specifications and maintenance",
        "of the Aquaflow P-200 end-suction centrifugal pump.",
        "Read all safety notes before operating the pump.",
        "",
        "Safety notes",
        "Disconnect the motor from the mains before any work on the pump.",
        "Never run the pump dry: the mechanical seal is cooled by the pumped liquid.",
        "Wear hearing protection near a running pump; noise can exceed 85 dB(A).",
        "Keep hands and tools away from the coupling while the motor can start.",
        "Only trained staff may open the pump casing or change the impeller.",
        "Report leaks, unusual noise or vibration to the shift supervisor at once.",
        "The manufacturer accepts no liability for damage caused by misuse.",
    ],
    [
        "1. Installation",
        "",
        "Mount the pump on a level concrete base with four anchor bolts.",
        "Keep the suction pipe as short and straight as possible.",
        "Fill the casing with water before the first start (priming).",
        "Support the pipes independently so that no pipe load rests on the pump flanges.",
        "Fit an isolation valve on both the suction and the discharge side.",
        "A non-return valve on the discharge side protects the pump from backflow.",
        "Align the motor and pump shafts with a dial gauge after the base has cured.",
        "Check the direction of rotation with a short start: it must match the arrow",
        "on the casing. Wire the motor through a thermal overload relay.",
        "After installation, run the pump for one hour and check for leaks.",
    ],
    [
        "2. Specifications",
        "",
        "The maximum operating pressure of the P-200 pump is 12 bar (174 psi).",
        "Rated flow is 45 cubic metres per hour at 2900 rpm.",
        "Maximum fluid temperature is 90 degrees Celsius.",
        "The motor is rated at 5.5 kW, 400 V, three phase.",
        "Suction and discharge flanges are DN 65 and DN 50.",
        "The pump casing is made of cast iron, the impeller of bronze.",
        "Net weight without motor is 48 kg; with motor 92 kg.",
        "Sound pressure level at one metre is 78 dB(A).",
        "Never exceed the maximum operating pressure: fit a relief valve",
        "on the discharge line if the system can deliver more.",
    ],
    [
        "3. Maintenance",
        "",
        "Replace the mechanical seal every 8000 operating hours.",
        "Grease the motor bearings every six months with lithium grease.",
        "Inspect the impeller for wear once a year.",
        "Check the alignment of the coupling after every seal replacement.",
        "Drain the casing before a frost period if the pump stands idle outdoors.",
        "Use only original spare parts; the seal kit order number is P200-SK-4.",
        "Record every maintenance action in the pump logbook with date and hours.",
        "A pump that vibrates more than 4.5 mm/s must be taken out of service.",
    ],
]


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def content(lines):
    ops = ["BT", "/F1 12 Tf", "16 TL", "72 740 Td"]
    for line in lines:
        ops.append(f"({escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build():
    objects = []  # index i holds object number i + 1

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(None)
    pages = add(None)
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in PAGES:
        stream = content(lines)
        c = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (pages, font, c)
        ))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages
    objects[pages - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


if __name__ == "__main__":
    with open("corpus/manuals/pump.pdf", "wb") as f:
        f.write(build())
