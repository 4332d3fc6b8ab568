"""The headline answer (geo/parks/answer.py): the emerging hot spot and co-location sentences,
on constructed valleys and on the demo against its planted truth."""

from __future__ import annotations

import html
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from geo.parks.answer import research_answer
from geo.pipeline._colocation import Colocation


def _valley(parks: list[dict], *, clq: float | None = None, p: float | None = None, local: list[str] | None = None,
            alpha: float = 0.05):
    """A valley result with just what the answer reads: its park rows and co-location tables."""
    ov = pd.DataFrame(parks) if parks else pd.DataFrame({"name": []})
    colocation = None
    if clq is not None:
        colocation = pd.DataFrame([
            {"relation": "anchors", "a": "optics", "b": "research anchors", "clq": clq, "p": p},
            {"relation": "sector", "a": "optics", "b": "optics", "clq": 9.0, "p": 0.001},  # not the anchors' row
        ])
    loc = None
    if local is not None:
        loc = pd.DataFrame({"a": "optics", "b": ["research anchors"] * len(local) + ["optics"] * 3,
                            "label": local + ["colocated"] * 3})
    if colocation is not None:  # the stage's typed result (geo.pipeline._colocation.Colocation)
        colocation = Colocation(table=colocation, local=loc, k=8, anchor_source="firm-table column `anchor`",
                                alternative="two-sided", alpha=alpha, permutations=999)
    analysis = SimpleNamespace(parks_overlay=ov, clusters=None, clusters_outside_parks=None, metric_firms=None,
                               colocation=colocation,
                               emerging=SimpleNamespace(options={"alpha": alpha}))
    return SimpleNamespace(parks=ov[["name"]], skipped={}, analysis=analysis)


def _park(name: str, category: str, first, designated, *, n: int = 29, m: int = 279) -> dict:
    under = {category: n, "no pattern": m - n} if category != "no pattern" else {"no pattern": m}
    return {"name": name, "verdict": "park without a cluster", "designated": designated, "ehs_under": under,
            "ehs_main_under": category, "ehs_main_first_hot": first, "ehs_first_hot": 1981}


def _emerging_sentences(ans) -> list[str]:
    return [s for s in ans.facts if "emerging hot spot analysis" in s]


def test_the_emerging_sentence_after_and_before_designation_by_hand():
    valleys = {
        "Wuhan": _valley([_park("East Lake", "consecutive hot spot", 1996, 1991),
                          _park("Zhuankou", "no pattern", pd.NA, 1993)]),
        "Shenzhen": _valley([_park("Nanshan", "persistent hot spot", 1985, 1996, n=12, m=53)]),
    }
    ans = research_answer(valleys, target_sector="optics")
    assert _emerging_sentences(ans) == [
        ("In Wuhan the cells under East Lake became a hot spot in 1996 and have stayed one, 5 years after its designation "
         "in 1991: a consecutive hot spot, 29 of its 279 cells (emerging hot spot analysis)."),
        ("In Shenzhen the cells under Nanshan have been a hot spot nearly throughout since 1985, 11 years before its "
         "designation in 1996: a persistent hot spot, 12 of its 53 cells (emerging hot spot analysis)."),
    ]
    assert [(e["park"], e["timing"], e["first_hot"], e["designated"]) for e in ans.emerging] == [
        ("East Lake", "after designation", 1996, 1991), ("Nanshan", "before designation", 1985, 1996)]
    assert not any("Zhuankou" in s for s in ans.sentences)  # no pattern: nothing said
    assert json.loads(json.dumps(ans.to_dict()))["emerging"][0]["category"] == "consecutive hot spot"


@pytest.mark.parametrize(("category", "first", "designated", "words"), [
    ("new hot spot", 2024, 2024, "became a hot spot in 2024, in the year of its designation (2024): a new hot spot,"),
    ("intensifying hot spot", 1990, 1991, "since 1990, 1 year before its designation in 1991: an intensifying hot spot,"),
    ("historical hot spot", 1980, 1995, "were a hot spot nearly throughout from 1980 but no longer are, 15 years before"),
    ("sporadic hot spot", 2001, None, "were first a hot spot in 2001, on and off since: a sporadic hot spot,"),
])
def test_each_hot_category_in_words(category, first, designated, words):
    ans = research_answer({"V": _valley([_park("P", category, first, designated)])})
    (sentence,) = _emerging_sentences(ans)
    assert words in sentence
    assert ans.emerging[0]["timing"] == (None if designated is None else "in the designation year" if first == designated
                                         else "before designation")


@pytest.mark.parametrize("category", ["no pattern", "persistent cold spot", "new cold spot"])
def test_no_hot_spot_no_sentence(category):
    """A park without a pattern, or on a cold spot, is not said to be a hot spot."""
    ans = research_answer({"V": _valley([_park("P", category, pd.NA, 1991)])})
    assert ans.emerging == () and _emerging_sentences(ans) == []


def test_without_the_emerging_columns_nothing_is_said():
    v = _valley([_park("P", "new hot spot", 2024, 1991)])
    v.analysis.parks_overlay = v.analysis.parks_overlay.drop(columns=["ehs_main_first_hot"])
    assert research_answer({"V": v}).emerging == ()


def test_the_colocation_sentence_only_when_significant():
    valleys = {
        "Changchun": _valley([], clq=2.3, p=0.001, local=["colocated"] * 12 + ["ns"] * 288),
        "Wuhan": _valley([], clq=1.8, p=0.2, local=["ns"] * 50),  # not significant: not named
        "Shenzhen": _valley([], clq=0.0, p=0.02, local=["ns"] * 40),  # significantly apart
    }
    ans = research_answer(valleys, target_sector="optics")
    (sentence,) = [s for s in ans.facts if "co-location quotient" in s]
    assert sentence == (
        "Optics firms sit next to research institutes and universities more often than chance in Changchun "
        "(CLQ 2.30, p = 0.001; 12 of its 300 optics firms significantly so by their local CLQ after FDR), and keep "
        "away from them in Shenzhen (CLQ 0.00, p = 0.02), by the co-location quotient of the 8 nearest neighbours.")
    assert "Wuhan" not in sentence
    assert [(c["valley"], c["relation"], c["n_local"], c["n_firms"]) for c in ans.colocation] == [
        ("Changchun", "colocated", 12, 300), ("Shenzhen", "isolated", 0, 40)]


def test_the_colocation_level_is_the_runs():
    """p = 0.03 is significant at 0.05, not at the 0.01 the run recorded (or the one given)."""
    at_05 = research_answer({"V": _valley([], clq=2.0, p=0.03)})
    at_01 = research_answer({"V": _valley([], clq=2.0, p=0.03, alpha=0.01)})
    given = research_answer({"V": _valley([], clq=2.0, p=0.03)}, alpha=0.01)
    assert len(at_05.colocation) == 1 and at_05.colocation[0]["n_local"] is None
    assert "in V (CLQ 2.00, p = 0.03), by the co-location" in at_05.facts[-1]
    assert at_01.colocation == () == given.colocation
    assert not any("co-location" in s for s in at_01.sentences)


def test_no_colocation_table_no_sentence():
    ans = research_answer({"V": _valley([])})
    assert ans.colocation == () and not any("co-location" in s for s in ans.sentences)
    assert ans.to_dict()["colocation"] == []


# ----------------------------------------------------------------------------- the demo against its truth
def test_the_demo_answer_cites_the_planted_emerging_hot_spots(demo_results, demo_output):
    from geo.datasets import load_truth

    truth = load_truth()["parks"]
    ans = demo_results.answer
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    cited = {e["park"]: e for e in ans.emerging}
    planted = {name: t["emerging"] for name, t in truth.items() if t["emerging"]["first_hot"] is not None}
    assert planted and set(cited) == set(planted)  # parks planted without a cluster are not cited
    for name, t in planted.items():
        e = cited[name]
        assert e["category"] in t["categories"] and e["timing"] == t["first_hot"] and e["designated"] == t["designated"]
        (sentence,) = [s for s in ans.facts if f"under {name} " in s]
        assert f"{abs(e['first_hot'] - e['designated'])} years {t['first_hot'].split()[0]} its designation" in sentence
        assert html.escape(sentence) in page
    summary = json.loads((demo_output / "summary.json").read_text(encoding="utf-8"))
    assert summary["answer"]["emerging"] == [dict(e) for e in ans.emerging]


def test_the_demo_answer_cites_the_planted_colocation(demo_results, demo_output):
    from geo.datasets import load_truth

    truth = load_truth()["valleys"]
    ans = demo_results.answer
    page = (demo_output / "report.html").read_text(encoding="utf-8")
    planted = [name for name, t in truth.items() if t["colocation"]]
    assert planted
    cited = {c["valley"]: c for c in ans.colocation}
    (sentence,) = [s for s in ans.facts if "co-location quotient" in s]
    assert html.escape(sentence) in page
    for name in planted:
        c = cited[name]
        exp = truth[name]["colocation"]["expected"]
        assert c["relation"] == "colocated" and c["clq"] > exp["global_clq_above"] and c["p"] < exp["global_p_below"]
        assert f"{name} (CLQ {c['clq']:.2f}, p = " in sentence
    # every valley cited is significant at the run's level, with the sign it is cited with
    for name, c in cited.items():
        row = demo_results.valleys[name].analysis.colocation.table.set_index("relation").loc["anchors"]
        assert row["p"] < demo_results.config.analysis.alpha and np.sign(row["clq"] - 1) == (1 if c["relation"] == "colocated" else -1)


def test_parks_of_one_name_in_two_valleys_are_told_apart_by_their_valley():
    # 高新技术产业开发区 is the name of many cities' high-tech zones
    pre = {"verdict": "park on a pre-existing cluster", "designated": 1991}
    valleys = {
        "武汉市": _valley([{"name": "高新技术产业开发区", **pre}, {"name": "东湖", **pre}]),
        "长春市": _valley([{"name": "高新技术产业开发区", **pre}]),
    }
    ans = research_answer(valleys, target_sector="optics")
    assert ("Where a park sits on a cluster that predates it, the cluster came first: 高新技术产业开发区 in 武汉市, 东湖 and "
            "高新技术产业开发区 in 长春市.") in ans.conclusions
    # the verdict lists keep (valley, park) pairs
    assert ans.verdicts["park on a pre-existing cluster"] == (("武汉市", "高新技术产业开发区"), ("武汉市", "东湖"),
                                                              ("长春市", "高新技术产业开发区"))


def test_valleys_where_no_hot_spot_test_ran_are_not_said_to_have_no_cluster():
    # cell_size = 50000: 13 cells per valley, Gi* refused; the answer said "No significant cluster ... was found"
    why = "At least 30 cells are needed for spatial autocorrelation; 13 were given. Use a smaller cell size."
    a, b = _valley([]), _valley([])
    a.skipped["hotspots"] = b.skipped["hotspots"] = why
    ans = research_answer({"Wuhan": a, "Changchun": b}, target_sector="optics")
    assert ("No hot spot test ran in Wuhan and Changchun (At least 30 cells are needed for spatial autocorrelation; 13 were "
            "given. Use a smaller cell size), so the run says nothing about clusters there.") in ans.facts
    assert not any("No significant cluster" in s or "cluster of optics firms" in s for s in ans.facts)
    # one valley tested (no cluster), one not: each is said of its own valley
    c = _valley([])
    c.analysis.clusters = pd.DataFrame({"n_firms": []})
    ans = research_answer({"Wuhan": a, "Shenzhen": c}, target_sector="optics")
    assert "No significant cluster of optics firms (contiguous Gi* hot cells at ≥ 95 % confidence) was found in the other valleys." in ans.facts
    assert any(s.startswith("No hot spot test ran in Wuhan (") for s in ans.facts)
