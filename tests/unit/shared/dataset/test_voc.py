import pytest

from shared.dataset.problems import Rejected
from shared.dataset.voc import parse_voc

LIMIT = 1024 * 1024


def voc(objects: str = "", size: str = "<size><width>100</width><height>80</height></size>") -> bytes:
    return f"<annotation><filename>a.jpg</filename>{size}{objects}</annotation>".encode()


def obj(name="cat", xmin="10", ymin="10", xmax="50", ymax="40", extra="") -> str:
    return (f"<object><name>{name}</name>{extra}<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


def rejected(data: bytes, **kw) -> Rejected:
    with pytest.raises(Rejected) as info:
        parse_voc(data, max_bytes=kw.get("max_bytes", LIMIT))
    return info.value


def test_reads_vott_float_coordinates_and_flags():
    ann = parse_voc(voc(obj(xmin="10.25", ymax="40.75", extra="<difficult>1</difficult><truncated>0</truncated>")),
                    max_bytes=LIMIT)
    assert ann.filename == "a.jpg"
    assert ann.size == (100, 80)
    (o,) = ann.objects
    assert (o.name, o.xmin, o.ymin, o.xmax, o.ymax) == ("cat", 10.25, 10.0, 50.0, 40.75)
    assert o.difficult is True and o.truncated is False


def test_missing_size_is_left_for_the_image_to_tell():
    assert parse_voc(voc(obj(), size=""), max_bytes=LIMIT).size is None
    assert parse_voc(voc(obj(), size="<size><width>0</width><height>0</height></size>"), max_bytes=LIMIT).size is None


def test_xxe_external_entity_is_refused_and_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (f'<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            f"<annotation><filename>&xxe;</filename></annotation>").encode()
    error = rejected(data)
    assert error.field == "DOCTYPE"
    assert "xxe" in error.reason and "XXE" in error.reason
    assert "TOP-SECRET" not in str(error)


def test_billion_laughs_is_refused():
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    data = f'<?xml version="1.0"?><!DOCTYPE annotation [{entities}]><annotation>&lol9;</annotation>'.encode()
    error = rejected(data)
    assert error.field == "DOCTYPE" and "billion laughs" in error.reason


def test_size_cap():
    error = rejected(voc(obj() * 50), max_bytes=200)
    assert error.field == "file" and "MAX_ANNOTATION_BYTES=200" in error.reason


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"<annotation><object>", "xml", "not well-formed"),
        (b"<html></html>", "html", "<annotation>"),
        (voc(obj(name="")), "object[1]/name", "missing class name"),
        (voc(obj() + obj(xmin="abc")), "object[2]/bndbox/xmin", "'abc' is not a number"),
        (voc(obj(ymax="nan")), "object[1]/bndbox/ymax", "not a finite number"),
        (voc("<object><name>cat</name></object>"), "object[1]/bndbox", "missing"),
        (voc(obj(extra="<difficult>maybe</difficult>")), "object[1]/difficult", "'maybe' is not 0 or 1"),
        (voc(obj(), size="<size><width>-5</width><height>80</height></size>"), "size/width", "positive"),
        (voc(obj(), size="<size><width>100</width></size>"), "size/height", "missing"),
    ],
)
def test_bad_annotations_name_the_field(data, field, words):
    error = rejected(data)
    assert error.field == field
    assert words in error.reason


def test_utf16_encoded_entities_are_refused_too():
    data = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            "<annotation><filename>&xxe;</filename></annotation>").encode("utf-16")
    error = rejected(data)
    assert error.field == "DOCTYPE"
    assert "root:" not in str(error)
