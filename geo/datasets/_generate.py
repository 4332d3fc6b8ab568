"""The seeded generator that made the bundled demo data (its loader is :mod:`geo.datasets._files`).

The demo data is **synthetic**: firms are drawn from spatial point processes placed at
three real cities (China's "optics valleys"), and the park boundaries are **illustrative**,
not official.  Each valley plays a different scenario whose truth is written beside the data
(``geo/datasets/data/demo_truth.json``) so that the statistics downstream can be checked against it:

* **Wuhan** -- the optics cluster grew *inside* the East Lake park *after* it was designated
  (1991); before 1991 the few optics firms are spread like the urban background.
* **Changchun** -- the optics cluster around the CIOMP anchor existed *before* its park was
  designated (1991) and lies *partly outside* it; the whole valley is stored in GCJ-02.  Optics
  spin-offs sit among the 40 optoelectronics laboratories of Jilin University (research
  anchors), 3 km from the CIOMP cluster: the plant of the co-location quotients.
* **Shenzhen** -- the main optics cluster (Guangming / Bao'an) lies *outside* the official
  park (Nanshan, 1996), about 25 km away.

The truth also says what the emerging hot spot analysis should find under each park
(:data:`EHS_BY_VERDICT`: a new, consecutive or intensifying hot spot first hot after the
designation in Wuhan; a hot spot of at least 90 % of the steps, first hot before it, in
Changchun) and what the co-location quotients should find in Changchun (``colocation``).

Point processes (all in a local metric frame of each valley, a 40 x 40 km window):

* Urban background: an inhomogeneous Poisson process whose intensity is a sum of isotropic
  Gaussian bumps (city centre, districts; a bump may open only from a given year) plus a
  constant floor, sampled by superposition and restricted to the window (and to land):

  .. math::

      \\lambda(s, t) = \\lambda_0 \\Big( w_0 / |A| + \\sum_k w_k \\, 1[t \\ge t_k] \\,
      \\phi_{\\sigma_k}(s - c_k) \\Big)

* Sector clusters: Thomas (Neyman--Scott) processes.  Parents are Poisson in number, placed
  around the cluster centre with standard deviation :math:`\\sigma_p`; each has a
  Poisson(:math:`\\mu`) number of offspring displaced by :math:`N(0, \\sigma_c^2 I)`, so the
  cluster's overall spread is :math:`\\sigma = \\sqrt{\\sigma_p^2 + \\sigma_c^2}` (``sigma_m``
  in the truth).
* Founding years: :math:`P(t) \\propto e^{g (t - t_0)}` on each year segment (growth).

The table is then dirtied on purpose (missing, non-numeric, out-of-range, (0, 0) and swapped
coordinates, exact duplicate records, one stacked fallback geocode), every case counted in
the truth, and one park polygon is a self-intersecting bow-tie.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geo._random import check_seed
from geo.errors import InputError

__all__ = [
    "DEMO_SEED",
    "EHS_BY_VERDICT",
    "GENERATOR_VERSION",
    "VERDICTS",
    "generate_demo",
]

logger = logging.getLogger(__name__)

#: the seed of the committed demo data
DEMO_SEED = 20261127
#: bump when the generator's output changes on purpose (recorded in the truth)
GENERATOR_VERSION = "3"
#: the three park verdicts used in the truth
VERDICTS = (
    "cluster formed after designation",
    "park on a pre-existing cluster",
    "park without a cluster",
)

#: the emerging hot spot categories (geo.stats.spacetime.CATEGORIES) the main category under a park
#: may take, and when its cells first became hot, by the park's planted verdict: a cluster that
#: formed after designation is a new, consecutive or intensifying hot spot first hot after the
#: designation year; a park on a pre-existing cluster sits on cells hot from (nearly) the first
#: step (at least 90 % of the steps: intensifying, persistent, diminishing or historical), first
#: hot before designation; a park without a cluster shows no pattern
EHS_BY_VERDICT: dict[str, tuple[tuple[str, ...], str | None]] = {
    VERDICTS[0]: (("new hot spot", "consecutive hot spot", "intensifying hot spot"), "after designation"),
    VERDICTS[1]: (("intensifying hot spot", "persistent hot spot", "diminishing hot spot", "historical hot spot"),
                  "before designation"),
    VERDICTS[2]: (("no pattern",), None),
}

_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")

_CSV_COLUMNS = (
    "firm_id", "name", "lon", "lat", "coord_sys", "valley", "industry_code", "sector",
    "subsector", "founded", "employees", "rd", "ownership", "anchor",
)
_FIRST_YEAR = 1980
_LAST_YEAR = 2024
_DBF_DATE = (100, 1, 1)  # dBASE "last update" header bytes: 2000-01-01 (YY since 1900, MM, DD)
_PARK_NOTE = "illustrative boundary, not official / 示意边界，非官方"

# ---------------------------------------------------------------------------------------
# Industries (GB/T 4754-2017 four-digit classes)
# ---------------------------------------------------------------------------------------

_OPTICS_SUBSECTORS = (
    "lasers", "optical_fibre", "optoelectronic_devices", "optical_instruments", "displays_led",
)
_SECTORS = (
    "optics", "electronics", "software", "biomedicine", "automotive", "textiles", "food",
    "metal_products", "business_services",
)
_HIGH_TECH = frozenset({"optics", "electronics", "software", "biomedicine"})

#: code -> (sector, subsector, English description of the GB/T 4754-2017 class)
_INDUSTRIES: dict[str, tuple[str, str, str]] = {
    "3424": ("optics", "lasers",
             "Manufacture of metal cutting and welding equipment "
             "(laser processing systems in this demo)"),
    "3832": ("optics", "optical_fibre", "Manufacture of optical fibres"),
    "3833": ("optics", "optical_fibre", "Manufacture of optical cables"),
    "3976": ("optics", "optoelectronic_devices", "Manufacture of optoelectronic devices"),
    "4040": ("optics", "optical_instruments", "Manufacture of optical instruments"),
    "3974": ("optics", "displays_led", "Manufacture of display devices"),
    "3975": ("optics", "displays_led", "Manufacture of semiconductor lighting devices"),
    "3921": ("electronics", "electronics", "Manufacture of communication system equipment"),
    "3973": ("electronics", "electronics", "Manufacture of integrated circuits"),
    "3981": ("electronics", "electronics", "Manufacture of resistors, capacitors and inductors"),
    "3982": ("electronics", "electronics", "Manufacture of electronic circuits"),
    "6511": ("software", "software", "Basic software development"),
    "6513": ("software", "software", "Application software development"),
    "6520": ("software", "software", "Integrated circuit design"),
    "6531": ("software", "software", "Information system integration services"),
    "2710": ("biomedicine", "biomedicine", "Manufacture of chemical pharmaceutical raw materials"),
    "2720": ("biomedicine", "biomedicine", "Manufacture of chemical pharmaceutical preparations"),
    "2761": ("biomedicine", "biomedicine", "Manufacture of biological medicines"),
    "3581": ("biomedicine", "biomedicine",
             "Manufacture of medical diagnostic, monitoring and therapeutic equipment"),
    "3611": ("automotive", "automotive", "Manufacture of petrol and diesel vehicles"),
    "3612": ("automotive", "automotive", "Manufacture of new energy vehicles"),
    "3670": ("automotive", "automotive", "Manufacture of automobile parts and accessories"),
    "1711": ("textiles", "textiles", "Cotton spinning"),
    "1713": ("textiles", "textiles", "Cotton printing, dyeing and finishing"),
    "1830": ("textiles", "textiles", "Manufacture of apparel accessories"),
    "1411": ("food", "food", "Manufacture of cakes and bread"),
    "1441": ("food", "food", "Manufacture of liquid milk"),
    "1513": ("food", "food", "Manufacture of beer"),
    "3311": ("metal_products", "metal_products", "Manufacture of metal structures"),
    "3340": ("metal_products", "metal_products",
             "Manufacture of metal wire, rope and their products"),
    "3360": ("metal_products", "metal_products", "Metal surface treatment and heat treatment"),
    "7212": ("business_services", "business_services", "Investment and asset management"),
    "7231": ("business_services", "business_services", "Lawyers and related legal services"),
    "7241": ("business_services", "business_services", "Accounting, auditing and tax services"),
    "7251": ("business_services", "business_services", "Internet advertising services"),
}
#: subsector -> its codes (each code maps to exactly one subsector)
_CODES_BY_SUBSECTOR: dict[str, tuple[str, ...]] = {
    sub: tuple(code for code, (_, s, _) in _INDUSTRIES.items() if s == sub)
    for sub in dict.fromkeys(s for _, s, _ in _INDUSTRIES.values())
}

# per-sector firm attributes: median employees, R&D probability, foreign-ownership multiplier
_MEDIAN_EMPLOYEES = {
    "optics": 18, "electronics": 25, "software": 12, "biomedicine": 20, "automotive": 40,
    "textiles": 30, "food": 15, "metal_products": 20, "business_services": 5,
}
_RD_PROB = {
    "optics": 0.55, "electronics": 0.40, "software": 0.50, "biomedicine": 0.45,
    "automotive": 0.20, "textiles": 0.03, "food": 0.03, "metal_products": 0.06,
    "business_services": 0.04,
}
_FOREIGN_MULT = {
    "optics": 1.5, "electronics": 2.0, "software": 1.0, "biomedicine": 1.2, "automotive": 1.8,
    "textiles": 1.5, "food": 0.8, "metal_products": 0.7, "business_services": 0.6,
}

# ---------------------------------------------------------------------------------------
# Firm names
# ---------------------------------------------------------------------------------------

_SYLLABLES = (
    ("光", "Guang"), ("华", "Hua"), ("科", "Ke"), ("新", "Xin"), ("瑞", "Rui"), ("博", "Bo"),
    ("创", "Chuang"), ("达", "Da"), ("远", "Yuan"), ("明", "Ming"), ("星", "Xing"), ("海", "Hai"),
    ("天", "Tian"), ("源", "Yuan"), ("信", "Xin"), ("通", "Tong"), ("锐", "Rui"), ("晶", "Jing"),
    ("鑫", "Xin"), ("恒", "Heng"), ("联", "Lian"), ("盛", "Sheng"), ("中", "Zhong"), ("宏", "Hong"),
    ("力", "Li"), ("安", "An"), ("迅", "Xun"), ("凯", "Kai"), ("泰", "Tai"), ("德", "De"),
    ("长", "Chang"), ("飞", "Fei"),
)
_SUBSECTOR_WORDS = {
    "lasers": ("激光", "Laser"),
    "optical_fibre": ("光纤光缆", "Fibre & Cable"),
    "optoelectronic_devices": ("光电子", "Optoelectronics"),
    "optical_instruments": ("光学仪器", "Optical Instruments"),
    "displays_led": ("显示照明", "Display & LED"),
    "electronics": ("电子", "Electronics"),
    "software": ("软件", "Software"),
    "biomedicine": ("生物医药", "Biopharma"),
    "automotive": ("汽车零部件", "Auto Parts"),
    "textiles": ("纺织", "Textiles"),
    "food": ("食品", "Foods"),
    "metal_products": ("金属制品", "Metal Products"),
    "business_services": ("商务咨询", "Business Consulting"),
}
_SUFFIX_ZH = ("有限公司", "科技有限公司", "股份有限公司", "有限责任公司")
_SUFFIX_EN = ("Co., Ltd.", "Technology Co., Ltd.", "Corp.", "Inc.")
#: names that exercise HTML/JS escaping downstream (assigned to ordinary firms)
_HTML_NAMES = (
    "<script>alert(1)</script>光电科技有限公司",
    "Lumen <img src=x onerror=alert(1)> Optics Co., Ltd.",
    "</script><script>alert('x')</script> Laser Inc.",
    "`Backtick` `rm -rf` Software Co.",
    "${alert(1)} Template Display Co., Ltd.",
    "\"Quoted\" & 'Apostrophe' Fibre Co.",
    "Tom & Jerry <b>Bold</b> Electronics & Co.",
    "A&amp;B &lt;LED&gt; Lighting Ltd.",
)

# ---------------------------------------------------------------------------------------
# The scenarios (data, not code): three valleys
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bump:
    """One Gaussian component of the urban background intensity."""

    label: str
    lon: float
    lat: float
    sigma_km: float
    weight: float
    since: int = _FIRST_YEAR  # firms founded before this year never come from this bump


@dataclass(frozen=True)
class _Cluster:
    """A Thomas (Neyman-Scott) cluster of one sector."""

    id: str
    label: str
    sector: str
    lon: float
    lat: float
    n: int  # expected number of firms
    parent_sd_m: float
    child_sd_m: float
    mean_children: float
    years: tuple[tuple[float, int, int, float], ...]  # (weight, first, last, growth)
    # fixed parents (lon, lat) instead of Poisson parents around the centre: a campus's
    # laboratories, each with its spin-off firms around it
    parents: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class _Anchor:
    """A research institute or university (a row with anchor = 1)."""

    name: str
    lon: float
    lat: float
    founded: int  # actual founding year; the table clips it to 1980
    code: str
    employees: int


@dataclass(frozen=True)
class _Campus:
    """A research campus: the laboratories of one institute (each a row with anchor = 1, laid
    out deterministically) and the spin-off firms of the target sector around them.

    Laboratory ``i`` lies at ``spacing_m * sqrt(i + 1)`` from the centre at the golden angle
    ``i * 137.5°`` (a sunflower layout); each has Poisson(``spinoffs_per_lab``) spin-offs
    displaced by :math:`N(0, \\sigma_c^2 I)`.  The plant of the co-location quotients: the
    spin-offs' nearest neighbours include several laboratories, so their local CLQ towards
    the research anchors is significant after the FDR adjustment (two anchors among 8
    neighbours have a probability of about :math:`28 (N_B / N)^2` under random labelling).
    """

    id: str
    institute: str
    lab_zh: str
    lab_en: str
    lon: float
    lat: float
    n_labs: int
    spacing_m: float
    code: str
    founded: int
    spinoffs_per_lab: float
    child_sd_m: float
    years: tuple[tuple[float, int, int, float], ...]

    def lab_positions(self) -> list[tuple[float, float]]:
        frame = _Frame(self.lon, self.lat)
        out = []
        for i in range(self.n_labs):
            r = self.spacing_m * math.sqrt(i + 1)
            a = math.radians(137.50776405) * i
            lon, lat = frame.to_lonlat(r * math.cos(a), r * math.sin(a))
            out.append((round(float(lon), 6), round(float(lat), 6)))
        return out

    def anchors(self) -> tuple[_Anchor, ...]:
        return tuple(_Anchor(f"{self.lab_zh}{i + 1:02d} {self.lab_en} {i + 1:02d}", lon, lat, self.founded,
                             self.code, 40)
                     for i, (lon, lat) in enumerate(self.lab_positions()))

    def cluster(self) -> _Cluster:
        return _Cluster(self.id, f"{self.institute}: spin-offs around its laboratories", "optics",
                        self.lon, self.lat, round(self.n_labs * self.spinoffs_per_lab), 0.0,
                        self.child_sd_m, self.spinoffs_per_lab, self.years, parents=tuple(self.lab_positions()))


@dataclass(frozen=True)
class _Park:
    """An illustrative park polygon given in km offsets (east, north) from a reference point."""

    name: str
    lon: float
    lat: float
    vertices_km: tuple[tuple[float, float], ...]
    designated: int
    verdict: str
    target_cluster: str | None
    self_intersecting: bool = False
    # development models the scenario was built to show (geo.parks.models.classify_models);
    # the first is the primary model, () means "none"
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Valley:
    name: str
    prefix: str
    city_zh: str
    city_en: str
    lon: float  # centre of the 40 x 40 km study window
    lat: float
    coord_sys: str
    scenario: str
    main_park: str
    n_background: int
    growth: float
    early_optics_share: float  # optics share of background firms founded before 1991
    sector_mix: tuple[tuple[str, float], ...]
    optics_mix: tuple[tuple[str, float], ...]
    foreign_share: float
    chinese_name_share: float
    bumps: tuple[_Bump, ...]
    floor_weight: float
    clusters: tuple[_Cluster, ...]
    anchors: tuple[_Anchor, ...]
    parks: tuple[_Park, ...]
    dirt: tuple[tuple[str, int], ...]
    stacked_at: tuple[float, float, str] | None = None
    land: tuple[tuple[float, float], ...] | None = None  # lon/lat ring; None = all land
    half_width_km: float = 20.0
    campus: _Campus | None = None  # the co-location plant (its labs join `anchors`, its spin-offs `clusters`)

    @property
    def all_anchors(self) -> tuple[_Anchor, ...]:
        return self.anchors + (self.campus.anchors() if self.campus is not None else ())

    @property
    def all_clusters(self) -> tuple[_Cluster, ...]:
        return self.clusters + ((self.campus.cluster(),) if self.campus is not None else ())


_WUHAN = _Valley(
    name="Wuhan", prefix="WH", city_zh="武汉", city_en="Wuhan", lon=114.33, lat=30.54,
    coord_sys="wgs84",
    scenario="cluster grew inside its park after designation",
    main_park="East Lake High-Tech Zone (Optics Valley)",
    n_background=9500, growth=0.075, early_optics_share=0.12,
    sector_mix=(("optics", 0.02), ("electronics", 0.07), ("software", 0.09), ("biomedicine", 0.05),
                ("automotive", 0.06), ("textiles", 0.07), ("food", 0.10), ("metal_products", 0.14),
                ("business_services", 0.40)),
    optics_mix=(("optical_fibre", 0.38), ("optoelectronic_devices", 0.22), ("lasers", 0.22),
                ("optical_instruments", 0.08), ("displays_led", 0.10)),
    foreign_share=0.05, chinese_name_share=0.6,
    bumps=(
        _Bump("Hankou (Jianghan)", 114.27, 30.59, 3.0, 0.30),
        _Bump("Wuchang", 114.31, 30.55, 3.0, 0.22),
        _Bump("Hanyang", 114.25, 30.55, 2.5, 0.10),
        _Bump("Qingshan", 114.38, 30.63, 2.5, 0.06),
        _Bump("Optics Valley new district", 114.42, 30.49, 4.0, 0.14, since=1995),
        _Bump("Zhuankou", 114.17, 30.50, 3.0, 0.06, since=1993),
    ),
    floor_weight=0.12,
    clusters=(
        _Cluster("WH-OPT-1", "Optics Valley (Guanshan)", "optics", 114.415, 30.497, 1100,
                 900.0, 250.0, 25.0, ((1.0, 1992, 2024, 0.07),)),
        _Cluster("WH-AUTO-1", "Zhuankou automotive", "automotive", 114.172, 30.500, 500,
                 800.0, 250.0, 20.0, ((1.0, 1993, 2024, 0.05),)),
    ),
    anchors=(
        _Anchor("华中科技大学 Huazhong University of Science and Technology (HUST)",
                114.414, 30.512, 1952, "3424", 3000),
        _Anchor("武汉邮电科学研究院 Wuhan Research Institute of Posts and Telecommunications (WRI)",
                114.397, 30.503, 1974, "3832", 2000),
        _Anchor("武汉光电国家研究中心 Wuhan National Laboratory for Optoelectronics (WNLO)",
                114.420, 30.509, 2003, "3976", 600),
    ),
    parks=(
        _Park("East Lake High-Tech Zone (Optics Valley)", 114.415, 30.497,
              ((-4.6, -3.4), (-5.2, 0.8), (-4.0, 3.6), (-1.0, 4.4), (2.6, 4.0), (5.4, 2.2),
               (5.8, -1.2), (3.6, -4.2), (0.2, -4.8)),
              1991, "cluster formed after designation", "WH-OPT-1",
              # no optics cluster before 1991, the cluster grew inside the park after it;
              # the HUST, WRI and WNLO anchors lie 1.4-2 km from the cluster centre, with
              # R&D more likely within 3 km of them
              models=("government-led", "research-led")),
        _Park("Wuhan Economic & Technological Development Zone", 114.172, 30.500,
              ((-2.4, -2.0), (2.4, 2.0), (2.4, -2.0), (-2.4, 2.0)),  # a bow-tie on purpose
              1993, "park without a cluster", None, self_intersecting=True),
    ),
    dirt=(("missing_coordinate", 80), ("not_a_number", 30), ("out_of_range", 15),
          ("zero_zero", 20), ("swapped", 40), ("duplicate", 50), ("stacked", 0)),
)

_CHANGCHUN = _Valley(
    name="Changchun", prefix="CC", city_zh="长春", city_en="Changchun", lon=125.30, lat=43.86,
    coord_sys="gcj02",
    scenario="cluster existed before its park was designated and lies partly outside it",
    main_park="Changchun New & High-Tech Industrial Development Zone",
    n_background=9000, growth=0.07, early_optics_share=0.05,
    sector_mix=(("optics", 0.025), ("electronics", 0.05), ("software", 0.07), ("biomedicine", 0.07),
                ("automotive", 0.12), ("textiles", 0.04), ("food", 0.12), ("metal_products", 0.14),
                ("business_services", 0.355)),
    optics_mix=(("optical_instruments", 0.38), ("lasers", 0.25), ("optoelectronic_devices", 0.17),
                ("displays_led", 0.12), ("optical_fibre", 0.08)),
    foreign_share=0.04, chinese_name_share=0.65,
    bumps=(
        _Bump("Chaoyang / Nanguan (city centre)", 125.33, 43.89, 3.5, 0.40),
        _Bump("Kuancheng", 125.33, 43.93, 2.5, 0.10),
        _Bump("Lvyuan", 125.23, 43.88, 3.0, 0.10),
        _Bump("Erdao", 125.40, 43.87, 3.0, 0.10),
        _Bump("High-tech zone", 125.25, 43.83, 3.0, 0.10, since=1991),
        _Bump("Jingyue", 125.40, 43.80, 3.0, 0.06, since=1995),
    ),
    floor_weight=0.14,
    clusters=(
        _Cluster("CC-OPT-1", "CIOMP optics cluster", "optics", 125.295, 43.842, 900,
                 1000.0, 250.0, 20.0, ((0.36, 1980, 1990, 0.0), (0.64, 1991, 2024, 0.05))),
        _Cluster("CC-AUTO-1", "Lvyuan automotive (FAW)", "automotive", 125.215, 43.885, 600,
                 1000.0, 300.0, 20.0, ((0.3, 1980, 1990, 0.0), (0.7, 1991, 2024, 0.04))),
    ),
    anchors=(
        _Anchor("中国科学院长春光学精密机械与物理研究所 Changchun Institute of Optics, Fine Mechanics "
                "and Physics (CIOMP)", 125.296, 43.843, 1952, "4040", 2500),
        _Anchor("长春理工大学 Changchun University of Science and Technology",
                125.305, 43.836, 1958, "4040", 1800),
        _Anchor("吉林大学 Jilin University", 125.262, 43.828, 1946, "3976", 3000),
    ),
    parks=(
        _Park("Changchun New & High-Tech Industrial Development Zone", 125.292, 43.842,
              ((-7.2, -3.0), (-7.0, 1.8), (-5.0, 3.4), (-1.5, 3.2), (0.2, 2.4), (-0.1, 0.6),
               (0.15, -0.8), (-0.2, -2.6), (-3.0, -3.8)),
              1991, "park on a pre-existing cluster", "CC-OPT-1",
              # a third of the cluster founded 1980-1990, about half of it outside the park;
              # CIOMP sits at the cluster centre, with R&D more likely within 3 km of it
              models=("market-led", "research-led")),
    ),
    dirt=(("missing_coordinate", 70), ("not_a_number", 30), ("out_of_range", 15),
          ("zero_zero", 20), ("swapped", 0), ("duplicate", 50), ("stacked", 0)),
    # the co-location plant: 40 optoelectronics laboratories of Jilin University (anchor = 1)
    # within 250 m of its campus centre, about 100 optics spin-offs founded from 1985 around
    # them; 3 km from the CIOMP cluster, so the spin-offs' neighbours are the laboratories
    campus=_Campus("CC-SPIN-1", "吉林大学 Jilin University", "吉林大学光电子实验室", "Jilin University optoelectronics laboratory",
                   125.262, 43.828, n_labs=40, spacing_m=40.0, code="3976", founded=1980, spinoffs_per_lab=2.5,
                   child_sd_m=35.0, years=((1.0, 1985, 2024, 0.05),)),
)

_SHENZHEN = _Valley(
    name="Shenzhen", prefix="SZ", city_zh="深圳", city_en="Shenzhen", lon=113.98, lat=22.65,
    coord_sys="wgs84",
    scenario="main cluster lies outside the official park",
    main_park="Shenzhen Hi-Tech Industrial Park (Nanshan)",
    n_background=10500, growth=0.10, early_optics_share=0.03,
    sector_mix=(("optics", 0.03), ("electronics", 0.16), ("software", 0.13), ("biomedicine", 0.05),
                ("automotive", 0.03), ("textiles", 0.06), ("food", 0.06), ("metal_products", 0.12),
                ("business_services", 0.36)),
    optics_mix=(("displays_led", 0.42), ("optoelectronic_devices", 0.23), ("lasers", 0.17),
                ("optical_instruments", 0.08), ("optical_fibre", 0.10)),
    foreign_share=0.16, chinese_name_share=0.5,
    bumps=(
        _Bump("Futian", 114.055, 22.54, 3.0, 0.22),
        _Bump("Luohu", 114.12, 22.55, 2.5, 0.15),
        _Bump("Nanshan", 113.93, 22.53, 3.0, 0.15, since=1985),
        _Bump("Bao'an centre", 113.88, 22.57, 3.5, 0.15, since=1990),
        _Bump("Longhua", 114.03, 22.68, 4.0, 0.10, since=1995),
        _Bump("Guangming", 113.94, 22.75, 4.0, 0.06, since=2000),
    ),
    floor_weight=0.17,
    clusters=(
        _Cluster("SZ-OPT-1", "Guangming optoelectronics", "optics", 113.935, 22.765, 1100,
                 1000.0, 250.0, 25.0, ((1.0, 1998, 2024, 0.08),)),
        _Cluster("SZ-OPT-2", "Bao'an Shiyan LED", "optics", 113.925, 22.675, 400,
                 600.0, 200.0, 16.0, ((1.0, 1995, 2024, 0.06),)),
        _Cluster("SZ-ELEC-1", "Huaqiangbei electronics", "electronics", 114.085, 22.547, 700,
                 700.0, 200.0, 20.0, ((1.0, 1988, 2024, 0.06),)),
        _Cluster("SZ-SOFT-1", "Nanshan software", "software", 113.950, 22.545, 600,
                 600.0, 200.0, 20.0, ((1.0, 1998, 2024, 0.09),)),
    ),
    anchors=(
        _Anchor("深圳大学 Shenzhen University", 113.940, 22.535, 1983, "3976", 2500),
        _Anchor("中国科学院深圳先进技术研究院 Shenzhen Institutes of Advanced Technology (SIAT)",
                113.995, 22.597, 2006, "3973", 1500),
        _Anchor("南方科技大学 Southern University of Science and Technology (SUSTech)",
                113.998, 22.602, 2011, "6511", 1500),
    ),
    parks=(
        _Park("Shenzhen Hi-Tech Industrial Park (Nanshan)", 113.952, 22.540,
              ((-1.2, -2.3), (-1.6, -0.2), (-1.3, 2.2), (0.4, 2.7), (1.5, 1.4), (1.3, -0.9),
               (0.7, -2.5)),
              1996, "park without a cluster", None),
    ),
    dirt=(("missing_coordinate", 90), ("not_a_number", 30), ("out_of_range", 15),
          ("zero_zero", 20), ("swapped", 0), ("duplicate", 50), ("stacked", 120)),
    stacked_at=(113.8836, 22.5553, "Bao'an district centre (geocoder fallback)"),
    # rough land outline: excludes the Pearl River estuary, Shenzhen Bay and Hong Kong
    land=((113.78, 22.84), (113.78, 22.76), (113.82, 22.70), (113.84, 22.62), (113.86, 22.56),
          (113.89, 22.50), (113.92, 22.47), (113.94, 22.50), (113.97, 22.51), (114.02, 22.51),
          (114.06, 22.51), (114.10, 22.53), (114.15, 22.54), (114.18, 22.56), (114.18, 22.84)),
)

_VALLEYS: tuple[_Valley, ...] = (_WUHAN, _CHANGCHUN, _SHENZHEN)

_DIRT_REASONS = (
    "missing_coordinate", "not_a_number", "out_of_range", "zero_zero", "swapped", "duplicate",
    "stacked",
)
_NOT_A_NUMBER = ("n/a", "abc", "unknown", "N/A", "#VALUE!")

# ---------------------------------------------------------------------------------------
# Geometry helpers: a local metric frame per valley
# ---------------------------------------------------------------------------------------


class _Frame:
    """Local east/north metres around (lon0, lat0) on the WGS84 ellipsoid (radii of curvature)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        a = 6378137.0
        e2 = 0.00669437999014
        phi = math.radians(lat0)
        w = 1.0 - e2 * math.sin(phi) ** 2
        self.lon0 = lon0
        self.lat0 = lat0
        self.m_lat = a * (1.0 - e2) / w**1.5 * math.pi / 180.0  # metres per degree latitude
        self.m_lon = a / math.sqrt(w) * math.cos(phi) * math.pi / 180.0

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        return self.lon0 + np.asarray(x) / self.m_lon, self.lat0 + np.asarray(y) / self.m_lat

    def to_xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        x = (np.asarray(lon) - self.lon0) * self.m_lon
        return x, (np.asarray(lat) - self.lat0) * self.m_lat


def _park_ring(frame: _Frame, park: _Park) -> list[tuple[float, float]]:
    x0, y0 = frame.to_xy(park.lon, park.lat)
    ring = []
    for dx, dy in park.vertices_km:
        lon, lat = frame.to_lonlat(x0 + dx * 1000.0, y0 + dy * 1000.0)
        ring.append((round(float(lon), 6), round(float(lat), 6)))
    ring.append(ring[0])
    return ring


def _years(rng: np.random.Generator, n: int, segments) -> np.ndarray:
    """Founding years from a mixture of growth segments (weight, first, last, growth)."""
    weights = np.array([s[0] for s in segments], dtype=float)
    seg = rng.choice(len(segments), size=n, p=weights / weights.sum())
    out = np.empty(n, dtype=np.int64)
    for k, (_, first, last, growth) in enumerate(segments):
        idx = np.flatnonzero(seg == k)
        years = np.arange(first, last + 1)
        p = np.exp(growth * (years - first))
        out[idx] = rng.choice(years, size=idx.size, p=p / p.sum())
    return out


def _choose(rng: np.random.Generator, mix, n: int) -> np.ndarray:
    labels = np.array([m[0] for m in mix], dtype=object)
    p = np.array([m[1] for m in mix], dtype=float)
    return labels[rng.choice(len(labels), size=n, p=p / p.sum())]


def _codes(rng: np.random.Generator, subsectors: np.ndarray) -> np.ndarray:
    out = np.empty(subsectors.size, dtype=object)
    for sub in dict.fromkeys(subsectors.tolist()):  # first-seen order: deterministic
        idx = np.flatnonzero(subsectors == sub)
        codes = np.array(_CODES_BY_SUBSECTOR[sub], dtype=object)
        out[idx] = codes[rng.integers(0, codes.size, size=idx.size)]
    return out


# ---------------------------------------------------------------------------------------
# Simulation of one valley
# ---------------------------------------------------------------------------------------


def _inside_window(v: _Valley, frame: _Frame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import shapely

    h = v.half_width_km * 1000.0
    keep = (np.abs(x) <= h) & (np.abs(y) <= h)
    if v.land is not None:
        lon, lat = frame.to_lonlat(x, y)
        keep &= shapely.contains_xy(shapely.Polygon(v.land), lon, lat)
    return keep


def _background(v: _Valley, frame: _Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = int(rng.poisson(v.n_background))
    founded = _years(rng, n, ((1.0, _FIRST_YEAR, _LAST_YEAR, v.growth),))
    # component choice: bumps active from their `since` year, plus the uniform floor
    weights = np.array([b.weight for b in v.bumps] + [v.floor_weight])
    since = np.array([b.since for b in v.bumps] + [_FIRST_YEAR])
    w = np.where(founded[:, None] >= since[None, :], weights[None, :], 0.0)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    comp = np.minimum((cum < rng.random(n)[:, None]).sum(axis=1), weights.size - 1)
    z = rng.normal(size=(n, 2))
    h = v.half_width_km * 1000.0
    uni = rng.uniform(-h, h, size=(n, 2))
    x = uni[:, 0].copy()
    y = uni[:, 1].copy()
    for k, b in enumerate(v.bumps):
        idx = comp == k
        bx, by = frame.to_xy(b.lon, b.lat)
        x[idx] = bx + z[idx, 0] * b.sigma_km * 1000.0
        y[idx] = by + z[idx, 1] * b.sigma_km * 1000.0
    # sectors: the early (pre-1991) mix has its own optics share
    late = _choose(rng, v.sector_mix, n)
    others = [(s, p) for s, p in v.sector_mix if s != "optics"]
    scale = (1.0 - v.early_optics_share) / sum(p for _, p in others)
    early_mix = [("optics", v.early_optics_share)] + [(s, p * scale) for s, p in others]
    early = _choose(rng, early_mix, n)
    sector = np.where(founded < 1991, early, late)
    subsector = sector.copy()
    is_opt = sector == "optics"
    subsector[is_opt] = _choose(rng, v.optics_mix, int(is_opt.sum()))
    keep = _inside_window(v, frame, x, y)
    out = {
        "x": x, "y": y, "founded": founded, "sector": sector, "subsector": subsector,
        "origin": np.full(n, "background", dtype=object),
    }
    return {k: a[keep] for k, a in out.items()}


def _thomas(
    v: _Valley, c: _Cluster, frame: _Frame, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    if c.parents:  # fixed parents (a campus's laboratories)
        n_parents = len(c.parents)
        parents = np.column_stack(frame.to_xy([p[0] for p in c.parents], [p[1] for p in c.parents]))
    else:
        n_parents = int(rng.poisson(c.n / c.mean_children))
        cx, cy = frame.to_xy(c.lon, c.lat)
        parents = np.column_stack([cx, cy]) + rng.normal(0.0, c.parent_sd_m, size=(n_parents, 2))
    counts = rng.poisson(c.mean_children, size=n_parents)
    parent_of = np.repeat(np.arange(n_parents), counts)
    xy = parents[parent_of] + rng.normal(0.0, c.child_sd_m, size=(parent_of.size, 2))
    m = parent_of.size
    if c.sector == "optics":
        # each parent specialises in one subsector; 70 % of its offspring share it
        dominant = _choose(rng, v.optics_mix, n_parents)
        own = rng.random(m) < 0.7
        subsector = np.where(own, dominant[parent_of], _choose(rng, v.optics_mix, m))
    else:
        subsector = np.full(m, c.sector, dtype=object)
    founded = _years(rng, m, c.years)
    keep = _inside_window(v, frame, xy[:, 0], xy[:, 1])
    out = {
        "x": xy[:, 0], "y": xy[:, 1], "founded": founded,
        "sector": np.full(m, c.sector, dtype=object), "subsector": subsector.astype(object),
        "origin": np.full(m, c.id, dtype=object),
    }
    return {k: a[keep] for k, a in out.items()}, n_parents


def _anchors(v: _Valley, frame: _Frame) -> dict[str, np.ndarray]:
    anchors = v.all_anchors
    lon = np.array([a.lon for a in anchors])
    lat = np.array([a.lat for a in anchors])
    x, y = frame.to_xy(lon, lat)
    subsector = np.array([_INDUSTRIES[a.code][1] for a in anchors], dtype=object)
    return {
        "x": x, "y": y,
        "founded": np.array([max(a.founded, _FIRST_YEAR) for a in anchors], dtype=np.int64),
        "sector": np.array([_INDUSTRIES[a.code][0] for a in anchors], dtype=object),
        "subsector": subsector,
        "origin": np.full(len(anchors), "anchor", dtype=object),
    }


def _names(v: _Valley, rng: np.random.Generator, subsector: np.ndarray, sector: np.ndarray):
    n = subsector.size
    zh = rng.random(n) < v.chinese_name_share
    s1 = rng.integers(0, len(_SYLLABLES), size=n)
    s2 = rng.integers(0, len(_SYLLABLES), size=n)
    suffix = rng.integers(0, 4, size=n)
    names = np.empty(n, dtype=object)
    for i in range(n):
        a, b = _SYLLABLES[s1[i]], _SYLLABLES[s2[i]]
        word_zh, word_en = _SUBSECTOR_WORDS[subsector[i]]
        if zh[i]:
            names[i] = f"{v.city_zh}{a[0]}{b[0]}{word_zh}{_SUFFIX_ZH[suffix[i]]}"
        else:
            trade = a[1] + b[1].lower()
            names[i] = f"{v.city_en} {trade} {word_en} {_SUFFIX_EN[suffix[i]]}"
    return names


def _simulate_valley(v: _Valley, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    frame = _Frame(v.lon, v.lat)
    parts = [_background(v, frame, rng)]
    n_parents = {}
    for c in v.all_clusters:
        part, n_parents[c.id] = _thomas(v, c, frame, rng)
        parts.append(part)
    parts.append(_anchors(v, frame))
    firms = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = firms["x"].size
    is_anchor = firms["origin"] == "anchor"
    sector = firms["sector"]

    # positions: WGS84, rounded to the 6 decimals written (so truth and file agree exactly)
    lon, lat = frame.to_lonlat(firms["x"], firms["y"])
    firms["lon"] = np.round(lon, 6)
    firms["lat"] = np.round(lat, 6)
    firms["x"], firms["y"] = frame.to_xy(firms["lon"], firms["lat"])

    firms["code"] = _codes(rng, firms["subsector"])
    anchors = v.all_anchors
    firms["code"][is_anchor] = [a.code for a in anchors]
    median = np.array([_MEDIAN_EMPLOYEES[s] for s in sector], dtype=float)
    emp = np.round(np.exp(np.log(median) + 1.2 * rng.normal(size=n)))
    emp = np.clip(emp, 1, 50000).astype(np.int64)
    emp[is_anchor] = [a.employees for a in anchors]
    firms["employees"] = emp
    ax, ay = frame.to_xy([a.lon for a in anchors], [a.lat for a in anchors])
    d2 = (firms["x"][:, None] - ax[None, :]) ** 2 + (firms["y"][:, None] - ay[None, :]) ** 2
    near_anchor = d2.min(axis=1) < 3000.0**2
    p_rd = np.array([_RD_PROB[s] for s in sector]) + 0.2 * near_anchor
    rd = rng.random(n) < np.minimum(p_rd, 0.95)
    rd[is_anchor] = True
    firms["rd"] = rd.astype(np.int64)
    p_foreign = np.minimum(v.foreign_share * np.array([_FOREIGN_MULT[s] for s in sector]), 0.6)
    foreign = rng.random(n) < p_foreign
    foreign[is_anchor] = False
    firms["ownership"] = np.where(foreign, "foreign", "domestic").astype(object)
    firms["anchor"] = is_anchor.astype(np.int64)
    names = _names(v, rng, firms["subsector"], sector)
    names[is_anchor] = [a.name for a in anchors]
    firms["name"] = names

    # table order: a random permutation, then ids in that order
    perm = rng.permutation(n)
    firms = {k: a[perm] for k, a in firms.items()}
    firms["firm_id"] = np.array([f"{v.prefix}{i + 1:06d}" for i in range(n)], dtype=object)
    firms["valley"] = np.full(n, v.name, dtype=object)
    return firms, {"frame": frame, "n_parents": n_parents}


# ---------------------------------------------------------------------------------------
# Dirt
# ---------------------------------------------------------------------------------------


def _fmt(a: np.ndarray) -> np.ndarray:
    return np.array([f"{x:.6f}" for x in a], dtype=object)


def _dirty(v: _Valley, firms: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Write the stored coordinate strings and dirty some background rows; return the ledger."""
    if v.coord_sys == "gcj02":
        from geo.crs import wgs84_to_gcj02

        slon, slat = wgs84_to_gcj02(firms["lon"], firms["lat"])
    else:
        slon, slat = firms["lon"], firms["lat"]
    lon_s, lat_s = _fmt(slon), _fmt(slat)
    counts = dict(v.dirt)
    candidates = np.flatnonzero(firms["origin"] == "background")
    total = sum(counts.values())
    picked = rng.choice(candidates, size=total, replace=False)
    ledger: dict[str, Any] = {}
    start = 0
    for reason in _DIRT_REASONS:
        k = counts.get(reason, 0)
        idx = np.sort(picked[start:start + k])
        start += k
        ledger[reason] = idx
        if k == 0:
            continue
        if reason == "missing_coordinate":
            which = rng.integers(0, 3, size=k)  # 0 lon empty, 1 lat empty, 2 both
            lon_s[idx[which != 1]] = ""
            lat_s[idx[which != 0]] = ""
        elif reason == "not_a_number":
            which = rng.integers(0, 3, size=k)
            tokens = np.array(_NOT_A_NUMBER, dtype=object)
            token = tokens[rng.integers(0, tokens.size, size=k)]
            lon_s[idx[which != 1]] = token[which != 1]
            lat_s[idx[which != 0]] = token[which != 0]
        elif reason == "out_of_range":
            which = rng.integers(0, 4, size=k)
            lat_s[idx[which == 0]] = "95.000000"
            lon_s[idx[which == 1]] = "200.000000"
            lat_s[idx[which == 2]] = "-91.500000"
            lon_s[idx[which == 3]] = "-181.000000"
        elif reason == "zero_zero":
            plain = rng.random(k) < 0.5
            lon_s[idx] = np.where(plain, "0", "0.000000")
            lat_s[idx] = np.where(plain, "0", "0.000000")
        elif reason == "swapped":
            lon_s[idx], lat_s[idx] = lat_s[idx].copy(), lon_s[idx].copy()
        elif reason == "stacked":
            if v.stacked_at is None:
                msg = f"Valley {v.name!r} has stacked rows but no `stacked_at` point."
                raise InputError(msg)
            lon_s[idx] = f"{v.stacked_at[0]:.6f}"
            lat_s[idx] = f"{v.stacked_at[1]:.6f}"
        # "duplicate" rows are repeated later; their coordinates stay valid
    firms["lon_s"] = lon_s
    firms["lat_s"] = lat_s
    return ledger


# ---------------------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------------------


def _cluster_truth(c: _Cluster, firms, clean, frame: _Frame, n_parents: int,
                   parks_geom: dict, main_park: _Park) -> dict[str, Any]:
    import shapely

    sel = (firms["origin"] == c.id) & clean
    lon, lat = firms["lon"][sel], firms["lat"][sel]
    founded = firms["founded"][sel]
    cx, cy = frame.to_xy(c.lon, c.lat)
    d = np.hypot(firms["x"][sel] - cx, firms["y"][sel] - cy)
    shares = {name: float(shapely.contains_xy(g, lon, lat).mean()) if lon.size else 0.0
              for name, g in parks_geom.items()}
    best = max(shares, key=lambda k: shares[k]) if shares else None
    share = shares[best] if best is not None else 0.0
    relation = "inside" if share >= 0.9 else "partly_inside" if share >= 0.2 else "outside"
    ref = main_park.designated
    subs = firms["subsector"][sel]
    return {
        "id": c.id,
        "label": c.label,
        "sector": c.sector,
        "centre": [round(c.lon, 6), round(c.lat, 6)],
        "sigma_m": round(math.hypot(c.parent_sd_m, c.child_sd_m), 1),
        "parent_sd_m": c.parent_sd_m,
        "child_sd_m": c.child_sd_m,
        "n_parents": n_parents,
        "n_firms": int(sel.sum()),
        "n_firms_within_2km": int((d <= 2000.0).sum()),
        "founded_range": [int(founded.min()), int(founded.max())],
        "inside_park": best if relation != "outside" else None,
        "park_relation": relation,
        "share_inside_park": round(share, 4),
        "reference_park": main_park.name,
        "reference_year": ref,
        "n_before_reference_year": int((founded < ref).sum()),
        "n_before_reference_year_within_2km": int(((founded < ref) & (d <= 2000.0)).sum()),
        "subsectors": {s: int((subs == s).sum()) for s in sorted(set(subs.tolist()))},
    }


def _valley_truth(v: _Valley, firms, ledger, info, parks_geom) -> dict[str, Any]:
    frame: _Frame = info["frame"]
    dirty = np.zeros(firms["x"].size, dtype=bool)
    for reason, idx in ledger.items():
        if reason != "duplicate":
            dirty[idx] = True
    clean = ~dirty
    valley_parks = {p.name: parks_geom[p.name] for p in v.parks}
    main = next(p for p in v.parks if p.name == v.main_park)
    clusters = [
        _cluster_truth(c, firms, clean, frame, info["n_parents"][c.id], valley_parks, main)
        for c in v.clusters
    ]
    target = [c for c in clusters if c["sector"] == "optics"]
    other = [c for c in clusters if c["sector"] != "optics"]
    h = v.half_width_km * 1000.0
    lo = frame.to_lonlat(-h, -h)
    hi = frame.to_lonlat(h, h)
    anchors = []
    for a in v.all_anchors:
        i = int(np.flatnonzero((firms["origin"] == "anchor") & (firms["name"] == a.name))[0])
        anchors.append({
            "name": a.name, "firm_id": str(firms["firm_id"][i]), "lon": a.lon, "lat": a.lat,
            "founded": max(a.founded, _FIRST_YEAR), "founded_actual": a.founded,
        })
    return {
        "scenario": v.scenario,
        "centre": [v.lon, v.lat],
        "bbox": [round(float(lo[0]), 6), round(float(lo[1]), 6),
                 round(float(hi[0]), 6), round(float(hi[1]), 6)],
        "coord_sys": v.coord_sys,
        "target_sector": "optics",
        "subsector_mix": {s: p for s, p in v.optics_mix},
        "parks": [p.name for p in v.parks],
        "main_park": v.main_park,
        "clusters": target,
        "other_clusters": other,
        "clusters_outside_parks": [c["id"] for c in target if c["park_relation"] == "outside"],
        "anchors": anchors,
        "colocation": _colocation_truth(v, firms, clean, frame),
        "n_firms": int(firms["x"].size),
    }


def _colocation_truth(v: _Valley, firms, clean, frame: _Frame) -> dict[str, Any] | None:
    """The co-location plant of a valley (its campus), None without one."""
    c = v.campus
    if c is None:
        return None
    sel = (firms["origin"] == c.id) & clean
    cx, cy = frame.to_xy(c.lon, c.lat)
    d = np.hypot(firms["x"][sel] - cx, firms["y"][sel] - cy)
    lab_names = {a.name for a in c.anchors()}
    labs = np.isin(firms["name"], list(lab_names)) & (firms["origin"] == "anchor")
    return {
        "scenario": "spin-off firms of the target sector around the laboratories of a research institute",
        "institute": c.institute,
        "centre": [c.lon, c.lat],
        "a": "optics",
        "b": "research anchors",
        "n_labs": int(labs.sum()),
        "lab_firm_ids": sorted(str(i) for i in firms["firm_id"][labs]),
        "spinoff_cluster": c.id,
        "n_spinoffs": int(sel.sum()),
        "spinoff_firm_ids": sorted(str(i) for i in firms["firm_id"][sel]),
        "spinoffs_founded_range": [int(firms["founded"][sel].min()), int(firms["founded"][sel].max())],
        # every spin-off lies within this distance of the campus centre
        "radius_m": float(math.ceil(d.max() / 10.0) * 10.0),
        # the global CLQ(a -> b) of the valley is above 1 and significant at 0.05 (two-sided), and
        # the spin-offs' local CLQ towards b is significant (label "colocated") after the FDR
        # adjustment at the demo's 999 permutations
        "expected": {"global_clq_above": 1.0, "global_p_below": 0.05, "local_label": "colocated"},
    }


def _park_truth(v: _Valley, p: _Park, firms, ledger, geom) -> dict[str, Any]:
    import shapely

    dirty = np.zeros(firms["x"].size, dtype=bool)
    for reason, idx in ledger.items():
        if reason != "duplicate":
            dirty[idx] = True
    opt = (firms["sector"] == "optics") & ~dirty
    inside = shapely.contains_xy(geom, firms["lon"], firms["lat"]) & opt
    before = inside & (firms["founded"] < p.designated)
    is_anchor = firms["anchor"] == 1
    return {
        "valley": v.name,
        "designated": p.designated,
        "verdict": p.verdict,
        "models": list(p.models),
        "model": p.models[0] if p.models else "none",
        "target_sector": "optics",
        "target_cluster": p.target_cluster,
        "illustrative": True,
        "self_intersecting": p.self_intersecting,
        "n_target_firms_inside": int(inside.sum()),
        "n_target_firms_inside_before_designation": int(before.sum()),
        # of which research anchors (institutes that predate the firms around them)
        "n_target_anchors_inside_before_designation": int((before & is_anchor).sum()),
        "emerging": _emerging_truth(p, firms, dirty),
    }


def _emerging_truth(p: _Park, firms, dirty) -> dict[str, Any]:
    """What the emerging hot spot analysis should find under the park (:data:`EHS_BY_VERDICT`)."""
    categories, first_hot = EHS_BY_VERDICT[p.verdict]
    sel = (firms["origin"] == p.target_cluster) & ~dirty if p.target_cluster else np.zeros(0, bool)
    return {
        # the main category under the park (the most frequent other than "no pattern") is one of these
        "categories": list(categories),
        # the cells of that category were first hot after / before the designation year (None: never hot)
        "first_hot": first_hot,
        "designated": p.designated,
        # the first founding year of the park's target cluster (None: no target cluster)
        "cluster_first_founded": int(firms["founded"][sel].min()) if sel.any() else None,
    }


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(_CSV_COLUMNS)
        w.writerows(rows)


def _write_industry_groups(path: Path, codes: set[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(("industry_code", "sector", "subsector", "group", "description"))
        for code in sorted(codes):
            sector, subsector, desc = _INDUSTRIES[code]
            group = "high-tech" if sector in _HIGH_TECH else "traditional"
            w.writerow((code, sector, subsector, group, desc))


def _write_parks(folder: Path, parks: list[tuple[_Valley, _Park, list]]) -> None:
    import geopandas as gpd
    import pyogrio
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    for ext in _SHP_PARTS:
        (folder / f"parks_demo{ext}").unlink(missing_ok=True)
    gdf = gpd.GeoDataFrame(
        {
            "name": [p.name for _, p, _ in parks],
            "valley": [v.name for v, _, _ in parks],
            "designated": np.array([p.designated for _, p, _ in parks], dtype=np.int32),
            # dBASE field names hold at most 10 characters: "illustrative" -> "illustrati"
            "illustrati": np.ones(len(parks), dtype=np.int32),
            "note": [_PARK_NOTE] * len(parks),
        },
        geometry=[shapely.Polygon(ring) for _, _, ring in parks],
        crs="EPSG:4326",
    )
    path = folder / "parks_demo.shp"
    date = f"{_DBF_DATE[0] + 1900:04d}-{_DBF_DATE[1]:02d}-{_DBF_DATE[2]:02d}"
    pyogrio.write_dataframe(
        gdf, path, driver="ESRI Shapefile", encoding="UTF-8",
        layer_options={"DBF_DATE_LAST_UPDATE": date},
    )
    # the dBASE header bytes 1-3 hold the date of last update: pin them so files are identical
    with (folder / "parks_demo.dbf").open("r+b") as f:
        f.seek(1)
        f.write(bytes(_DBF_DATE))


# ---------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------


def generate_demo(out_dir: str | Path, *, seed: int = DEMO_SEED) -> dict[str, Any]:
    """Generate the synthetic demo data set and its known truth into ``out_dir``.

    Writes ``firms_demo.csv``, ``shapefiles/parks_demo.{shp,shx,dbf,prj,cpg}``,
    ``industry_groups.csv`` and ``demo_truth.json``.  The output is byte-identical for the
    same seed (on the same library versions): floats have 6 decimals, JSON keys are sorted,
    row order is fixed, and the dBASE header date is pinned to 2000-01-01.

    The firms of each valley are the superposition of an inhomogeneous Poisson background
    (Gaussian bumps plus a floor, restricted to the 40 x 40 km window),

    .. math::

        \\lambda(s, t) \\propto w_0 / |A| + \\sum_k w_k \\, 1[t \\ge t_k] \\,
        \\phi_{\\sigma_k}(s - c_k),

    and Thomas clusters whose overall spread is
    :math:`\\sigma = \\sqrt{\\sigma_p^2 + \\sigma_c^2}`; founding years follow
    :math:`P(t) \\propto e^{g (t - t_0)}` per segment.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder to write into (created if missing; existing demo files are overwritten).
    seed : int, default 20261127
        Seed of the generator (:data:`DEMO_SEED` made the committed data).

    Returns
    -------
    dict
        The truth, as written to ``demo_truth.json``: ``generator``, ``valleys`` (scenario,
        clusters with centre, ``sigma_m``, ``n_firms``, park relation ...), ``parks``
        (designation year, verdict), ``dirt`` (count per reason, the stacked point, GCJ-02
        rows, the self-intersecting park), ``dirt_firm_ids``, ``html_names`` and ``rows``.

    Raises
    ------
    InputError
        When ``seed`` is not an int.

    Examples
    --------
    >>> import tempfile
    >>> from geo.datasets import load_truth
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     truth = generate_demo(tmp)
    >>> truth == load_truth()
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = (f"`seed` must be an int so the demo data can be reproduced; "
               f"{type(seed).__name__} was given.")
        raise InputError(msg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = check_seed(int(seed))
    streams = root.spawn(len(_VALLEYS) + 1)
    global_rng = streams[-1]

    parks_geom: dict[str, Any] = {}
    park_rings: list[tuple[_Valley, _Park, list]] = []
    import shapely

    for v in _VALLEYS:
        frame = _Frame(v.lon, v.lat)
        for p in v.parks:
            ring = _park_ring(frame, p)
            park_rings.append((v, p, ring))
            poly = shapely.Polygon(ring)
            if shapely.is_valid(poly) == p.self_intersecting:
                msg = f"Park {p.name!r}: validity does not match its specification."
                raise InputError(msg)
            parks_geom[p.name] = shapely.make_valid(poly)

    sims = []
    for v, rng in zip(_VALLEYS, streams[:-1], strict=True):
        firms, info = _simulate_valley(v, rng)
        ledger = _dirty(v, firms, rng)
        sims.append((v, firms, info, ledger))
        logger.info("demo valley %s: %d firms", v.name, firms["x"].size)

    # names that exercise escaping: ordinary clean background firms, spread over the valleys
    html_rows = []
    for j, name in enumerate(_HTML_NAMES):
        v, firms, _, ledger = sims[j % len(sims)]
        used = np.concatenate([ledger[r] for r in _DIRT_REASONS])
        pool = np.setdiff1d(np.flatnonzero(firms["origin"] == "background"), used)
        i = int(global_rng.choice(pool))
        firms["name"][i] = name
        html_rows.append(str(firms["firm_id"][i]))

    # rows of the table, valleys in order; exact duplicates inserted at random positions
    rows: list[list[str]] = []
    dup_sources: list[int] = []
    for v, firms, _, ledger in sims:
        base = len(rows)
        for i in range(firms["x"].size):
            rows.append([
                firms["firm_id"][i], firms["name"][i], firms["lon_s"][i], firms["lat_s"][i],
                v.coord_sys, v.name, firms["code"][i], firms["sector"][i], firms["subsector"][i],
                str(firms["founded"][i]), str(firms["employees"][i]), str(firms["rd"][i]),
                firms["ownership"][i], str(firms["anchor"][i]),
            ])
        dup_sources.extend(base + int(i) for i in ledger["duplicate"])
    positions = global_rng.integers(0, len(rows) + 1, size=len(dup_sources))
    order = np.insert(np.arange(len(rows)), positions, np.array(dup_sources, dtype=np.int64))
    table = [rows[i] for i in order]

    codes = {r[6] for r in table}
    _write_csv(out / "firms_demo.csv", table)
    _write_industry_groups(out / "industry_groups.csv", codes)
    _write_parks(out / "shapefiles", park_rings)

    # the truth
    valleys_truth = {}
    parks_truth = {}
    dirt = {r: 0 for r in _DIRT_REASONS if r != "stacked"}
    dirt_ids: dict[str, list[str]] = {r: [] for r in _DIRT_REASONS}
    stacked = None
    n_rows_by_valley = {v.name: 0 for v in _VALLEYS}
    for r in table:
        n_rows_by_valley[r[5]] += 1
    for v, firms, info, ledger in sims:
        vt = _valley_truth(v, firms, ledger, info, parks_geom)
        vt["n_rows"] = n_rows_by_valley[v.name]
        valleys_truth[v.name] = vt
        for p in v.parks:
            parks_truth[p.name] = _park_truth(v, p, firms, ledger, parks_geom[p.name])
        for reason in _DIRT_REASONS:
            ids = [str(firms["firm_id"][i]) for i in ledger[reason]]
            dirt_ids[reason].extend(ids)
            if reason != "stacked":
                dirt[reason] += len(ids)
        if len(ledger["stacked"]):
            stacked = {"lon": round(v.stacked_at[0], 6), "lat": round(v.stacked_at[1], 6),
                       "n": int(len(ledger["stacked"])), "valley": v.name,
                       "label": v.stacked_at[2]}
    dirt["stacked"] = stacked
    dirt["gcj02_rows"] = sum(1 for r in table if r[4] == "gcj02")
    dirt["self_intersecting_park"] = next(p.name for _, p, _ in park_rings if p.self_intersecting)
    truth = {
        "generator": {
            "function": "geo.datasets.generate_demo",
            "version": GENERATOR_VERSION,
            "seed": int(seed),
            "bit_generator": "PCG64 (numpy.random.Generator, one spawned stream per valley)",
            "synthetic": True,
            "note": ("Synthetic firms at real cities; park boundaries are illustrative, not "
                     "official. Positions in this file are WGS84; Changchun rows in the CSV "
                     "are GCJ-02."),
        },
        "target_sector": "optics",
        "verdicts": list(VERDICTS),
        "valleys": valleys_truth,
        "parks": parks_truth,
        "dirt": dirt,
        "dirt_firm_ids": dirt_ids,
        "html_names": list(_HTML_NAMES),
        "html_name_firm_ids": html_rows,
        "rows": len(table),
    }
    text = json.dumps(truth, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    (out / "demo_truth.json").write_text(text, encoding="utf-8", newline="\n")
    logger.info("demo data written to %s: %d rows", out, len(table))
    return json.loads(text)
