"""The agency web inbox's words: statuses as agencies read them, the pages' messages, and the
English of every Indonesian text the pages show (`shared.pages.translator`)."""

from __future__ import annotations

STATUS_LABELS = {
    "routed": "Baru",
    "acknowledged": "Diterima",
    "followed_up": "Ditindaklanjuti",
    "rejected": "Bukan wewenang",
    "resolved": "Selesai",
    "reporter_replied": "Pelapor menanggapi",
    "reopened": "Dibuka lagi: masalah belum selesai",
    "rated": "Penilaian pelapor",
}
MESSAGES = {
    "FORM_EXPIRED": "Formulir kedaluwarsa; muat ulang halaman lalu coba lagi.",
    "TOO_MANY_LOGINS": "Terlalu banyak percobaan masuk yang gagal. Tunggu 15 menit lalu coba lagi.",
    "BAD_LOGIN": "Nama pengguna atau kata sandi salah.",
    "NOT_FOUND": "Pengaduan ini tidak ada di kotak masuk instansi Anda.",
    "ATTACHMENT_UNAVAILABLE": "Lampiran ini belum bisa diambil; coba lagi sebentar lagi.",
}
ENGLISH = {
    "Baru": "New",
    "Diterima": "Received",
    "Ditindaklanjuti": "Followed up",
    "Bukan wewenang": "Not our authority",
    "Selesai": "Resolved",
    "Dibuka lagi: masalah belum selesai": "Reopened: not fixed yet",
    "Pelapor menanggapi": "Reporter replied",
    "Penilaian pelapor": "Reporter's rating",
    MESSAGES["FORM_EXPIRED"]: "This form has expired; reload the page and try again.",
    MESSAGES["TOO_MANY_LOGINS"]: "Too many failed logins. Wait 15 minutes and try again.",
    MESSAGES["BAD_LOGIN"]: "Wrong username or password.",
    MESSAGES["NOT_FOUND"]: "This complaint is not in your agency's inbox.",
    MESSAGES["ATTACHMENT_UNAVAILABLE"]: "This attachment cannot be fetched now; try again soon.",
    "Foto": "Photo",
    "Unduh": "Download",
    "Kotak masuk": "Inbox",
    "Kotak Masuk Instansi": "Agency Inbox",
    "Langsung ke isi": "Skip to content",
    "Menu": "Menu",
    "Templat jawaban": "Answer templates",
    "Keluar": "Log out",
    "Waktu dalam WITA (UTC+8).": "Times in WITA (UTC+8).",
    "Masuk": "Log in",
    "Masuk kotak masuk instansi": "Log in to the agency inbox",
    "Akun dibuat oleh operator Diskominfo, satu untuk setiap petugas.": (
        "Accounts are created by Diskominfo's operators, one for each staff member."
    ),
    "Nama pengguna": "Username",
    "Kata sandi": "Password",
    "Tidak dapat ditampilkan": "Cannot be shown",
    "Kembali ke kotak masuk": "Back to the inbox",
    "pengaduan": "complaints",
    "terlambat": "overdue",
    "Terlambat": "Overdue",
    "diurutkan menurut batas tindak lanjut, yang terlambat di atas": (
        "by follow-up deadline, overdue first"
    ),
    "Belum ada pengaduan untuk instansi Anda.": "No complaints for your agency yet.",
    "Rahasia": "Confidential",
    "batas tindak lanjut": "follow-up due",
    "Batas tindak lanjut": "Follow-up due",
    "Batas disposisi": "Disposition due",
    "Tanggal kejadian": "Incident date",
    "Lokasi": "Location",
    "Kategori": "Category",
    "Sebelumnya di": "Previously with",
    "Pelapor": "Reporter",
    "(tanpa nama)": "(no name)",
    "Anonim: identitas pelapor tidak diberikan kepada instansi.": (
        "Anonymous: the reporter's identity is not given to agencies."
    ),
    "Isi pengaduan": "Complaint",
    "Lampiran": "Attachment",
    "Tindakan": "Actions",
    "Terima: instansi Anda sudah membaca pengaduan ini dan akan menanganinya.": (
        "Acknowledge: your agency has read this complaint and will handle it."
    ),
    "Terima pengaduan": "Acknowledge",
    "Tindak lanjut (dikirim kepada pelapor)": "Follow-up (sent to the reporter)",
    "Pakai templat:": "Use a template:",
    "Kirim tindak lanjut": "Send follow-up",
    "Catatan penyelesaian (tidak wajib)": "Resolution note (optional)",
    "Tandai selesai": "Mark resolved",
    "Bukan wewenang: pengaduan dikembalikan dan didisposisikan ulang.": (
        "Not our authority: the complaint is sent back to be routed again."
    ),
    "Alasan": "Reason",
    "Instansi yang berwenang (usulan, tidak wajib)": "Agency with authority (suggestion, optional)",
    "(tidak ada usulan)": "(no suggestion)",
    "Kembalikan: bukan wewenang": "Send back: not our authority",
    "Riwayat": "History",
    "Didisposisikan ke": "Routed to",
    "Usulan instansi:": "Suggested agency:",
    "Jawaban yang sering dipakai instansi Anda; dipilih saat menulis tindak lanjut.": (
        "Answers your agency often gives; chosen when writing a follow-up."
    ),
    "Hapus": "Delete",
    "Belum ada templat.": "No templates yet.",
    "Templat baru": "New template",
    "Judul": "Title",
    "Isi": "Text",
    "Simpan templat": "Save template",
    "Instansi tidak dikenal.": "Unknown agency.",
    "Isi dulu bagian ini.": "Please fill this in.",
    "Formulir ini sudah pernah dikirim dengan isi lain: periksa lalu kirim lagi.": (
        "This form was already sent with other content: check it and send again."
    ),
    "Tindakan ini tidak dapat dilakukan pada status {status}.": (
        "This action cannot be taken on a complaint that is {status}."
    ),
    "{tracking} dikembalikan: bukan wewenang.": "{tracking} sent back: not our authority.",
    "{tracking}: {status}.": "{tracking}: {status}.",
    "Sudah ada templat dengan judul ini.": "There is a template with this title already.",
    "Templat disimpan.": "Template saved.",
    "Templat dihapus.": "Template deleted.",
}
