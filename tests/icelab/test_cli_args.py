"""Command-line argument helpers shared by the management commands."""

import pytest
from django.core.management.base import CommandError

from icelab.cli import int_list_arg


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5,10,20", [5, 10, 20]),
        ("5:50:5", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),  # the stop is included
        ("5:52:5", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]),
        ("2:4,10", [2, 3, 4, 10]),
        ("10, 5,10", [10, 5]),  # order kept, duplicates dropped
        ("7:7", [7]),
    ],
)
def test_it_reads_lists_and_inclusive_ranges(value, expected):
    assert int_list_arg(value, name="--components") == expected


@pytest.mark.parametrize("value", ["", "a,b", "5:", "50:5", "5:50:0", "1:2:3:4", " , "])
def test_bad_values_name_the_option_and_show_the_forms(value):
    with pytest.raises(CommandError, match=r"--components=.*e\.g\. 5,10,15 or 5:50:5"):
        int_list_arg(value, name="--components")
