from shared.labelling.drift import DriftLimits, Profile, compare, profile


def test_profile_counts_images_without_a_detection_top_scores_and_the_class_mix():
    figures = profile([[("circle", 0.9), ("square", 0.6)], [("circle", 0.3)], []], threshold=0.5)
    assert figures == Profile(3, 0.5, no_detection_share=0.6667, mean_top_score=0.4,
                              class_share={"circle": 0.5, "square": 0.5})
    assert Profile.from_dict(figures.to_dict()) == figures


def test_each_figure_past_its_limit_raises_one_warning():
    validation = Profile(100, 0.5, 0.1, 0.8, {"circle": 0.5, "square": 0.5})
    production = Profile(50, 0.5, 0.4, 0.55, {"circle": 0.9, "square": 0.1})
    changes, warnings = compare(validation, production, DriftLimits())
    assert changes == {"no_detection_share": 0.3, "mean_top_score": -0.25, "class_share_distance": 0.4}
    assert [w.split(":")[0].split(" 0")[0] for w in warnings] == [
        "images without a detection", "mean top score", "class mix moved by"]
    assert compare(validation, validation, DriftLimits())[1] == []


def test_a_quiet_day_is_measured_but_not_alarmed():
    validation = Profile(100, 0.5, 0.1, 0.8, {"circle": 1.0})
    quiet = Profile(5, 0.5, 1.0, 0.0, {})
    changes, warnings = compare(validation, quiet, DriftLimits(min_images=20))
    assert changes["no_detection_share"] == 0.9 and warnings == []
