"""The citizen pages in English (`?lang=en`): each Indonesian text and its translation."""

from __future__ import annotations

ENGLISH = {
    "Anda pelapornya? Masukkan kunci akses untuk menanggapi dan memberi penilaian": (
        "Are you the reporter? Enter your access key to reply and rate"
    ),
    "Buka dengan kunci": "Open with the key",
    "Di komputer bersama? Browser ini mengingat kunci akses Anda untuk halaman ini.": (
        "On a shared computer? This browser remembers your access key for this page."
    ),
    "Lupakan kunci di browser ini": "Forget the key in this browser",
    "Nomor dan kunci akses tidak cocok. Periksa lagi keduanya.": (
        "The number and the access key do not match. Check both again."
    ),
    "1 = sangat tidak puas, 5 = sangat puas": "1 = very dissatisfied, 5 = very satisfied",
    "Ada isian yang perlu diperbaiki; lihat tanda merah di bawah. Tulisan Anda tidak hilang.": (
        "Some fields need fixing; see the red marks below. Nothing you wrote is lost."
    ),
    "Alamat atau patokan": "Address or landmark",
    "Anonim: sembunyikan nama dan kontak saya dari instansi": (
        "Anonymous: hide my name and contacts from the agency"
    ),
    "Apa yang terjadi?": "What happened?",
    "Batas disposisi": "Disposition due",
    "Batas tindak lanjut": "Follow-up due",
    "Belum bisa": "Not possible",
    "Bisa sampai": "Possible until",
    "Boleh pakai lokasi GPS dari foto (membantu petugas menemukan tempatnya)": (
        "The GPS location in my photos may be used (helps staff find the place)"
    ),
    "Buat pengaduan": "File a complaint",
    "Ceritakan apa, di mana, dan sejak kapan. Jangan tulis NIK atau nomor telepon di sini.": (
        "Say what, where and since when. Do not write your NIK or phone number here."
    ),
    "Data kamera dan lokasi di foto dihapus.": "Camera data and location are removed from photos.",
    "Dengan kunci ini Anda bisa menanggapi, menyatakan masalah belum selesai, dan memberi "
    "penilaian.": "With this key you can reply, say the problem is not solved, and rate it.",
    "Di mana?": "Where?",
    "Diterima": "Received",
    "Formulir kedaluwarsa; silakan kirim lagi.": "The form expired; please send it again.",
    "Foto atau dokumen": "Photos or documents",
    "Foto": "Photos",
    "Foto lampiran": "Attached photo",
    "Hanya Anda (dengan kunci yang kami berikan) dan instansi yang menangani yang bisa "
    "membacanya.": "Only you (with the key we give you) and the agency handling it can read it.",
    "Instansi": "Agency",
    "Isi pengaduan tetap bisa dibaca umum, tetapi instansi tidak pernah melihat siapa Anda. "
    "Hanya admin LAPOR! yang tahu.": (
        "The complaint may still be public, but the agency never sees who you are. Only "
        "LAPOR!'s administrators know."
    ),
    "Isi pengaduan": "Your complaint",
    "Judul": "Title",
    "Kabupaten/kota": "Regency/city",
    "Kategori": "Category",
    "Kecamatan": "District (kecamatan)",
    "Kembali ke pengaduan": "Back to the complaint",
    "Kirim pengaduan": "Send complaint",
    "Kirim penilaian": "Send rating",
    "Kirim tanggapan": "Send reply",
    "Komentar": "Comment",
    "Kunci akses Anda (catat dan simpan; browser ini mengingatnya untuk halaman lacak pengaduan "
    "ini):": "Your access key (write it down and keep it; this browser remembers it for this "
    "complaint's tracking page):",
    "Kunci akses": "Access key",
    "Lacak pengaduan": "Track a complaint",
    "Lacak": "Track",
    "Lampiran": "Attachments",
    "Langsung ke isi": "Skip to content",
    "Layanan pengaduan Pemerintah Provinsi Kalimantan Selatan, terhubung dengan SP4N-LAPOR!": (
        "Complaint service of the Province of South Kalimantan, connected to SP4N-LAPOR!"
    ),
    "Lihat perkembangan": "See progress",
    "Masalah belum selesai": "Problem not solved",
    "Masalah belum selesai? Ceritakan apa yang masih terjadi": (
        "Problem not solved? Tell what is still happening"
    ),
    "Menu": "Menu",
    "Nama": "Name",
    "Nomor lacak Anda:": "Your tracking number:",
    "Nomor lacak": "Tracking number",
    "Nomor telepon/WhatsApp": "Phone/WhatsApp number",
    "Nomor tidak ditemukan. Periksa lagi nomornya; pengaduan rahasia hanya bisa dilihat dengan "
    "kuncinya.": "Number not found. Check it again; a confidential complaint needs its key.",
    "Paling banyak": "At most",
    "Pengaduan Anda rahasia: tanpa kunci ini tidak ada yang bisa melihatnya di halaman lacak.": (
        "Your complaint is confidential: without this key nobody can see it on the tracking page."
    ),
    "Pengaduan diterima": "Complaint received",
    "Pengaduan ini sudah kami terima sebelumnya": "We had already received this complaint",
    "Rahasia: isi pengaduan tidak boleh dilihat umum": "Confidential: not visible to the public",
    "Riwayat": "History",
    "Salin kunci": "Copy key",
    "Salin nomor": "Copy number",
    "Sampaikan pengaduan Anda": "Tell us your complaint",
    "Saya ingin menerima kabar dan jawaban (isi telepon atau e-mail)": (
        "I want news and answers (give a phone or e-mail)"
    ),
    "Seberapa puas Anda dengan penanganannya?": "How satisfied are you with how it was handled?",
    "Setiap pengaduan mendapat nomor lacak dan diteruskan ke instansi yang berwenang.": (
        "Every complaint gets a tracking number and goes to the agency in charge."
    ),
    "Siapa yang melapor?": "Who is reporting?",
    "Simpan nomor ini. Dengan nomor ini Anda bisa melihat perkembangan pengaduan.": (
        "Keep this number: with it you can follow your complaint."
    ),
    "Status": "Status",
    "Tanggal kejadian": "Date of the incident",
    "Tanggapan Anda": "Your reply",
    "Tempat": "Place",
    "Terima kasih atas penilaian Anda.": "Thank you for your rating.",
    "Terima kasih, pengaduan Anda diterima": "Thank you, your complaint was received",
    "Terkirim. Akan tampil di riwayat sebentar lagi.": "Sent. It will show in the history shortly.",
    "Untuk pelapor": "For the reporter",
    "belum ditentukan": "not decided yet",
    "boleh kosong": "optional",
    "foto JPEG/PNG atau PDF, masing-masing sampai": "JPEG/PNG photos or PDF, each up to",
    "jika ada": "if you have one",
    "jika tidak ada di daftar, ketik di sini": "if not in the list, type it here",
    "wajib": "required",
    "— pilih —": "— choose —",
    # Statuses
    "Diteruskan ke instansi": "Sent to the agency",
    "Diterima instansi": "Acknowledged by the agency",
    "Ditindaklanjuti": "Followed up",
    "Bukan wewenang, dialihkan": "Not its authority, passed on",
    "Pelapor menanggapi": "The reporter replied",
    "Selesai": "Resolved",
    "Dibuka kembali": "Reopened",
    "Dinilai": "Rated",
    "Diarsipkan": "Archived",
    "Tercatat di SP4N-LAPOR!": "Recorded at SP4N-LAPOR!",
}
