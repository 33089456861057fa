import numpy as np
import pytest

from benchbox.corpus.arff import read_arff
from benchbox.errors import CorpusError


def test_reads_crlf_comments_quotes_and_missing(tmp_path):
    path = tmp_path / "x.arff"
    path.write_bytes(
        b"\xef\xbb\xbf% exported\r\n@RELATION GOLDSTANDARD\r\n\r\n@attribute 'Instance name' string\r\n"
        b"@ATTRIBUTE frameTime NUMERIC\r\n@attribute GoldStandard real\r\n@data\r\n"
        b"'train_1, take 2',0.00,0.5\r\n% inner comment\r\n\r\n\"train_1, take 2\",0.04,?\r\n"
    )
    table = read_arff(path)
    assert table.relation == "GOLDSTANDARD"
    assert [name for name, _ in table.attributes] == ["Instance name", "frameTime", "GoldStandard"]
    assert table.columns["Instance name"] == ["train_1, take 2", "train_1, take 2"]
    np.testing.assert_allclose(table.numeric("frameTime"), [0.0, 0.04])
    assert np.isnan(table.numeric("GoldStandard")[1])
    assert table.line_numbers.tolist() == [8, 11]


def test_wrong_number_of_values_names_file_and_line(tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text("@relation r\n@attribute a numeric\n@attribute b numeric\n@data\n1,2\n3\n")
    with pytest.raises(CorpusError, match=r"bad.arff, line 6: expected 2 values \(a, b\), found 1"):
        read_arff(path)


def test_non_numeric_value_names_line(tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text("@relation r\n@attribute a numeric\n@data\n1\nabc\n")
    with pytest.raises(CorpusError, match=r"line 5: attribute 'a' must be numeric, got 'abc'"):
        read_arff(path)


def test_missing_data_section(tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text("@relation r\n@attribute a numeric\n")
    with pytest.raises(CorpusError, match="no @data section"):
        read_arff(path)
