"""The routing decision: authority distinctions, places, informal Indonesian, triage, accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.router.domain import (
    ComplaintText,
    Router,
    RoutingDecision,
    RoutingTableError,
    load_routing_table,
    parse_routing_table,
)
from services.router.domain.evaluation import LabelledComplaint, evaluate
from services.router.domain.table import DEFAULT_TABLE_PATH
from shared.events import AuthorityLevel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(load_routing_table())


def decide(router: Router, body: str, title: str = "", **fields: str) -> RoutingDecision:
    return router.decide(ComplaintText(title=title, body=body, **fields))


@pytest.mark.parametrize(
    ("body", "agency", "level"),
    [
        ("Anak saya kelas XI di SMAN 2 dimintai uang komite", "63.disdikbud", "provinsi"),
        ("Anak saya di SDN 5 dimintai uang komite", "6371", "kabkota"),
        ("Pungutan di SMP negeri tempat anak saya sekolah", "6371", "kabkota"),
        ("Guru SLB tempat anak saya belajar jarang datang", "63.disdikbud", "provinsi"),
        ("Jalan provinsi di depan pasar berlubang besar", "63.pupr", "provinsi"),
        ("Jalan nasional trans Kalimantan berlubang besar", "pusat", "pusat"),
        ("Jalan di gang kami berlubang besar", "6371", "kabkota"),
        ("Lampu PJU di depan rumah mati seminggu", "6371", "kabkota"),
        ("Sampah di TPS tidak diangkut seminggu", "6371", "kabkota"),
        ("Puskesmas tutup siang hari, pasien terlantar", "6371", "kabkota"),
        ("Akta kelahiran anak belum terbit dari dukcapil", "6371", "kabkota"),
        ("Listrik PLN padam tiap malam", "pusat", "pusat"),
        ("Kartu BPJS saya tiba-tiba nonaktif", "pusat", "pusat"),
        ("Oknum polisi minta uang damai saat tilang", "pusat", "pusat"),
        ("Pajak motor saya telat, kapan pemutihan di Samsat?", "63.bapenda", "provinsi"),
        ("Antrean di RSUD Ulin dari subuh", "63.rsud-ulin", "provinsi"),
    ],
)
def test_authority_follows_uu_23_2014(router: Router, body: str, agency: str, level: str) -> None:
    decision = decide(router, body, location="Banjarmasin")

    assert (decision.agency, decision.level) == (agency, AuthorityLevel(level))
    assert decision.table_version == router.version


@pytest.mark.parametrize(
    ("location", "region"),
    [
        ("Bjm", "6371"),
        ("Kec. Landasan Ulin", "6372"),
        ("Banjarbaru", "6372"),
        ("HSU", "6308"),
        ("Hulu Sungai Tengah", "6307"),
        ("HSS", "6306"),
        ("Tanbu", "6310"),
        ("Batola", "6304"),
        ("Kotabaru", "6302"),
        ("Tala", "6301"),
        ("Amuntai", "6308"),
        ("Paringin", "6311"),
        ("Martapura", "6303"),
        ("Simpang Empat, Batulicin", "6310"),
    ],
)
def test_region_from_names_and_abbreviations(router: Router, location: str, region: str) -> None:
    decision = decide(router, "Lampu jalan mati sudah dua minggu", location=location)

    assert (decision.region, decision.agency) == (region, region)


def test_a_name_shared_by_two_regions_is_not_guessed(router: Router) -> None:
    decision = decide(router, "Lampu jalan mati", location="Kecamatan Simpang Empat")

    assert decision.region is None
    assert decision.agency == "63.triage"
    assert any("ambigu" in reason for reason in decision.reasons)


def test_ordinary_words_that_are_also_kecamatan_do_not_place_a_complaint(router: Router) -> None:
    decision = decide(router, "Kebakaran lahan gambut dekat desa, asap tebal")

    assert decision.region is None
    assert decision.agency == "63.dishut"


def test_codes_from_intake_win_over_text(router: Router) -> None:
    by_region = decide(router, "Lampu jalan mati di Banjarmasin", region_code="6309")
    by_district = decide(router, "Lampu jalan mati", district_code="6311040")

    assert by_region.region == "6309"
    assert by_district.region == "6311"


def test_informal_spelling_and_banjar_words(router: Router) -> None:
    decision = decide(
        router,
        "ulun handak melapor, banyu ledeng kada mengalir sdh seminggu, tlg lah",
        location="Kertak Hanyar",
    )

    assert decision.agency == "6303"
    assert decision.category == "ENERGI DAN SUMBER DAYA ALAM"


def test_stemming_matches_inflections(router: Router) -> None:
    decision = decide(router, "Jalanan berlubang dan kerusakan makin parah", location="Tapin")

    assert decision.agency == "6305"


def test_place_names_are_not_topic_words(router: Router) -> None:
    """'laut' in 'Tanah Laut' is no matter for the fisheries office."""
    decision = decide(router, "Jalan desa di Tanah Laut rusak berlubang")

    assert decision.agency == "6301"


@pytest.mark.parametrize(
    "body",
    [
        "Tolong diperhatikan, kami sudah lama menunggu.",
        "Anak saya diminta bayar seragam sekolah mahal",  # SD or SMA? not said
        "Sampah berserakan di mana-mana",  # a kab/kota matter, but which kab/kota?
        "",
    ],
)
def test_unsure_goes_to_triage_with_a_reason(router: Router, body: str) -> None:
    decision = decide(router, body)

    assert decision.agency == "63.triage"
    assert decision.reasons[-1].startswith("ke triase")
    assert 0 <= decision.confidence <= 1


def test_reasons_name_rule_terms_and_place(router: Router) -> None:
    decision = decide(router, "Pungutan uang komite di SMAN 1", location="Barabai")

    text = " ".join(decision.reasons)
    assert "SMA/SMK/SLB" in text
    assert "komite" in text
    assert "Barabai" in text


def test_reporter_category_supports_matching_topic(router: Router) -> None:
    plain = decide(router, "antre lama sekali di kantor", location="Banjarmasin")
    hinted = decide(
        router, "antre lama sekali di kantor", location="Banjarmasin", category="KEPENDUDUKAN"
    )

    assert plain.confidence <= hinted.confidence or plain.agency == "63.triage"


def test_the_committed_table_is_valid() -> None:
    table = load_routing_table()

    assert table.version
    assert {agency.code for agency in table.agencies} >= {"63.triage", "pusat", "6371"}
    assert len(table.regions) == 13


def _table_text_with(old: str, new: str) -> str:
    text = DEFAULT_TABLE_PATH.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'category = "PERHUBUNGAN"\nlevel = "provinsi"',
            'category = "JALAN-JALAN"\nlevel = "provinsi"',
            "is not a LAPOR category",
        ),
        ('agency = "63.dishub"', 'agency = "63.dishubb"', "is not a provincial agency"),
        ('agency = "63.dishub"', 'agency = "6371"', "is not a provincial agency"),
        ('agency = "63.dishub"\nterms', "terms", "needs an agency"),
        ('region = "6301"\nname = "Panyipatan"', 'region = "6399"\nname = "Panyipatan"', "6399"),
        ('level = "pusat"\nterms', 'level = "negara"\nterms', "level"),
        ('version = "', 'version_typo = "', "version"),
        ("[thresholds]", "[thresholds", "not valid TOML"),
    ],
)
def test_an_invalid_table_is_refused_with_a_clear_error(old: str, new: str, message: str) -> None:
    with pytest.raises(RoutingTableError, match=r"^test table: ") as raised:
        parse_routing_table(_table_text_with(old, new), "test table")

    assert message in str(raised.value)


def test_a_missing_table_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RoutingTableError, match="cannot read"):
        load_routing_table(tmp_path / "absent.toml")


def _labelled(name: str) -> list[LabelledComplaint]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [LabelledComplaint.model_validate_json(line) for line in lines if line.strip()]


def test_accuracy_on_the_labelled_set_does_not_drop(router: Router) -> None:
    """Figures reached with table 2025.06.4; a table change must not lower them."""
    report = evaluate(router, _labelled("routing_eval.jsonl"))

    assert report.total >= 300
    assert report.accuracy("category") >= 0.97
    assert report.accuracy("agency") >= 0.95
    assert report.accuracy("level") >= 0.97
    assert report.accuracy("region") >= 0.97
    assert report.triage_rate <= 0.10


def test_held_out_complaints_meet_the_issue_targets(router: Router) -> None:
    """Written after the table and not tuned on: closer to texts the team did not write."""
    report = evaluate(router, _labelled("routing_eval_holdout.jsonl"))

    assert report.accuracy("category") >= 0.90
    assert report.accuracy("agency") >= 0.85
    assert report.triage_rate <= 0.15


@pytest.mark.parametrize(
    "body",
    [
        "Jalan rusak di Sungai Raya, Kubu Raya, depan rumah",  # a Kalsel kecamatan's namesake
        "Lampu jalan mati di Simpang Empat, Pontianak",
        "Jalan rusak parah di Surabaya dekat rumah saya",
        "Sampah menumpuk di pasar Jakarta Selatan",
    ],
)
def test_a_place_outside_kalsel_is_never_placed_in_kalsel(router: Router, body: str) -> None:
    decision = decide(router, body)

    assert decision.region is None
    assert any("di luar Kalimantan Selatan" in reason for reason in decision.reasons)


def test_a_kalsel_region_named_beside_an_outside_place_still_places(router: Router) -> None:
    decision = decide(router, "Saya pindah dari Jakarta ke Banjarmasin, KTP belum jadi")

    assert decision.region == "6371"
    assert decide(router, "Jalan rusak di Sungai Raya, Kandangan").region == "6306"


def test_a_provincial_matter_outside_kalsel_goes_to_triage_a_national_one_stays(
    router: Router,
) -> None:
    provincial = decide(router, "Perpanjangan STNK di Samsat Bandung antre sampai sore")
    national = decide(router, "Listrik PLN padam tiap malam di Surabaya")

    assert provincial.triaged and provincial.region is None
    assert (national.agency, national.level) == ("pusat", AuthorityLevel.PUSAT)
