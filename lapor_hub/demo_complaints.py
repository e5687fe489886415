"""Realistic Indonesian complaints for the demo feed, the load generator and the benchmarks.

Deterministic for a given index, so a benchmark run can be repeated with the same payloads.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Channel

# (title, body, location, region code or None): phrased the way citizens write, formal and not.
_SCENES: tuple[tuple[str, str, str, str | None], ...] = (
    (
        "Jalan provinsi rusak parah",
        "Jalan di ruas Martapura - Banjarbaru banyak lubang besar, sudah 3 minggu tidak "
        "diperbaiki. Malam hari gelap dan banyak pengendara motor jatuh.",
        "Jl. A. Yani km 30, Banjarbaru",
        "6372",
    ),
    (
        "PJU mati sdh sebulan",
        "lampu jalan di depan gang kami mati sdh sebulan, tlg diperbaiki krn rawan begal",
        "Kel. Sungai Miai, Banjarmasin Utara",
        "6371",
    ),
    (
        "Sampah menumpuk di TPS",
        "Sampah di TPS dekat pasar tidak diangkut seminggu, bau sampai ke rumah warga.",
        "Pasar Lama, Banjarmasin Tengah",
        "6371",
    ),
    (
        "Pungutan di SMA negeri",
        "Anak saya di SMAN diminta bayar uang gedung Rp 2.500.000, katanya wajib. "
        "Apakah ini dibenarkan? Mohon ditindaklanjuti.",
        "Barabai",
        "6307",
    ),
    (
        "Pelayanan KTP lambat",
        "Sudah 2 bulan rekam e-KTP tapi belum jadi, tiap ke Disdukcapil disuruh balik lagi.",
        "Kotabaru",
        "6302",
    ),
    (
        "Banjir tdk surut",
        "Banjir di desa kami gk surut2 sudah 5 hari, warga perlu bantuan makanan dan air bersih.",
        "Kec. Astambul, Kab. Banjar",
        "6303",
    ),
    (
        "Izin tambang dekat sungai",
        "Ada aktivitas tambang batubara dekat sungai, air jadi keruh. Mohon dicek izinnya.",
        "Kec. Satui, Tanah Bumbu",
        "6310",
    ),
    (
        "Obat kosong di RSUD Ulin",
        "Keluarga saya dirawat di RSUD Ulin, obat dari resep dokter kosong dan disuruh "
        "beli di luar.",
        "Banjarmasin",
        "6371",
    ),
    (
        "Kapal penyeberangan terlambat",
        "Jadwal kapal feri ke Pulau Laut sering terlambat berjam-jam tanpa pemberitahuan.",
        "Pelabuhan Batulicin",
        "6310",
    ),
    (
        "Bansos tidak tepat sasaran",
        "Nama ulun kada masuk DTKS padahal kami keluarga miskin, tetangga nang mampu malah dapat.",
        "Kandangan, HSS",
        "6306",
    ),
    (
        "Tagihan listrik naik",
        "Tagihan PLN bulan ini naik dua kali lipat padahal pemakaian biasa saja.",
        "Tanjung, Tabalong",
        "6309",
    ),
    (
        "Info beasiswa",
        "Mohon informasi syarat beasiswa kuliah dari Pemprov Kalsel tahun ini.",
        "",
        None,
    ),
)

_NAMES = ("Siti Aminah", "Muhammad Rizky", "Noor Hasanah", "Ahmad Fauzi", "Rahmah", "Gusti Ilham")


def sample_complaint_fields(
    index: int, channel: Channel, *, now: datetime | None = None
) -> dict[str, Any]:
    """Fields of a new valid `shared.events.Complaint`; its content varies with the index and is
    the same for the same index."""
    rng = random.Random(index)
    title, body, location, region = _SCENES[index % len(_SCENES)]
    received_at = now or datetime.now(UTC)
    anonymous = rng.random() < 0.2
    complaint_id = uuid.uuid4()  # every call is a new complaint, even with the same text
    return {
        "complaint_id": complaint_id,
        "tracking_number": f"LPR-DEMO-{complaint_id.hex[:10].upper()}",
        "channel": channel,
        "title": title,
        "body": body,
        "incident_date": (received_at - timedelta(days=rng.randint(0, 20))).date(),
        "location": {"text": location or None, "region_code": region},
        "reporter": {}
        if anonymous
        else {"name": rng.choice(_NAMES), "phone": f"+62812{index:08d}"},
        "anonymous": anonymous,
        "confidential": rng.random() < 0.05,
        "channel_message_id": f"{channel.value}-{index}",
        "received_at": received_at,
    }
