"""The approval page's evidence: the validation split's figures and the golden set's, each against the live
model with the change, class by class."""

import re

from shared.approval_page import Evidence, decision_page


def rows(html: str, after: str) -> dict[str, list[str]]:
    table = html[html.index(after):]
    table = table[:table.index("</table>")]
    return {m.group(1): re.findall(r"<td>([^<]*)</td>", m.group(2))
            for m in re.finditer(r"<tr><td>([^<]*)</td>(.*?)</tr>", table)}


def test_the_page_shows_the_golden_set_beside_the_validation_split_with_the_change():
    metrics = {"map": 0.5, "map_50": 0.8, "validation_images": 40, "per_class_ap": {"cat": 0.6, "dog": 0.5},
               "champion": {"map": 0.45, "map_50": 0.78, "per_class_ap": {"cat": 0.5, "dog": 0.52}},
               "golden": {"images": 20, "map": 0.4, "map_50": 0.7, "per_class_ap": {"cat": 0.62, "dog": 0.41},
                          "champion": {"map": 0.5, "map_50": 0.8, "per_class_ap": {"cat": 0.55, "dog": 0.65}}}}
    html = decision_page(Evidence("tfod-pets", "3", metrics=metrics, gates_passed=False), "/api/approvals",
                         report_link="/api/reports/pets/b")
    validation = rows(html, "on 40 validation images")
    assert validation["AP dog"] == ["0.500", "0.520", "-0.020"] and validation["mAP@0.5:0.95"][2] == "+0.050"
    golden = rows(html, "on 20 golden images")
    assert golden["AP dog"] == ["0.410", "0.650", "-0.240"] and golden["mAP@0.5:0.95"] == ["0.400", "0.500", "-0.100"]
    first = decision_page(Evidence("tfod-pets", "1", metrics={"map": 0.5, "validation_images": 40}),
                          "/api/approvals", report_link="/r")
    assert "Golden set" not in first and "no champion yet" in first
