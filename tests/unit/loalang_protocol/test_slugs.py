"""Topic identifiers: what is a slug, and how human (Vietnamese) names become one."""

from __future__ import annotations

import random

import pytest

from loalang_protocol.slugs import SLUG_MAX_LENGTH, InvalidSlug, check_slug, is_slug, slugify

pytestmark = pytest.mark.unit

VALID = [
    "a",
    "0",
    "x1",
    "thon-dong-ha",
    "xa-phu-my-2",
    "dev-0001",
    "a-b-c-d",
    "9lives",
    "a" * SLUG_MAX_LENGTH,
    "a" + "-b" * 23 + "c",  # 48 characters with many single dashes
]

INVALID = [
    "",
    "A",
    "Thon",
    "thon-Dong",
    "a/b",
    "/",
    "+",
    "#",
    "a+",
    "a#",
    "dev.1",
    ".",
    "a b",
    " a",
    "a ",
    "thôn",
    "đông",
    "é",
    "-a",
    "a-",
    "-",
    "a--b",
    "---",
    "a_b",
    "a*b",
    "a$",
    "a\tb",
    "\x00",
    "a\x00",
    "a" * (SLUG_MAX_LENGTH + 1),
    "\uff11\uff12",  # full-width digits are not ASCII
]


@pytest.mark.parametrize("value", VALID)
def test_valid_slugs_are_accepted(value: str) -> None:
    assert is_slug(value)
    assert check_slug(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_invalid_slugs_are_rejected(value: str) -> None:
    assert not is_slug(value)
    with pytest.raises(InvalidSlug):
        check_slug(value)


@pytest.mark.parametrize("value", ["abc\n", "a\n"])
def test_trailing_newline_is_not_a_slug(value: str) -> None:
    assert not is_slug(value)


@pytest.mark.parametrize("value", [None, 5, b"abc", ["abc"], 1.5])
def test_non_strings_are_not_slugs(value: object) -> None:
    assert not is_slug(value)
    with pytest.raises(InvalidSlug):
        check_slug(value)


def test_invalid_slug_is_a_value_error_naming_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="device id") as info:
        check_slug("a/b", "device id")
    assert isinstance(info.value, InvalidSlug)
    assert "'a/b'" in str(info.value)


def test_check_slug_error_message_is_bounded_for_huge_input() -> None:
    with pytest.raises(InvalidSlug) as info:
        check_slug("#" * 10_000)
    assert len(str(info.value)) < 400


def test_length_limit_is_exact() -> None:
    assert is_slug("a" * SLUG_MAX_LENGTH)
    assert not is_slug("a" * (SLUG_MAX_LENGTH + 1))


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Thôn Đông Hà", "thon-dong-ha"),
        ("Xã Phú Mỹ", "xa-phu-my"),
        ("Huyện Đắk Lắk", "huyen-dak-lak"),
        ("đường Nguyễn Trãi", "duong-nguyen-trai"),
        ("Thành phố Hồ Chí Minh", "thanh-pho-ho-chi-minh"),
        ("Ấp Bình Thạnh 2", "ap-binh-thanh-2"),
        ("Phường Ư Ơ", "phuong-u-o"),
        ("  Thôn   1 / Khu+A #3. ", "thon-1-khu-a-3"),
        ("--Làng--Cũ--", "lang-cu"),
        ("ĐĐĐ", "ddd"),
    ],
)
def test_slugify_vietnamese_names(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert is_slug(slugify(name))


def test_slugify_is_idempotent_on_slugs() -> None:
    for value in VALID:
        assert slugify(value) == value


def test_slugify_truncates_long_names_without_trailing_dash() -> None:
    name = "Thôn " + "Đông Hà " * 20
    slug = slugify(name)
    assert len(slug) <= SLUG_MAX_LENGTH
    assert is_slug(slug)
    assert slug.startswith("thon-dong-ha-dong-ha")
    # a cut landing right after a dash must not leave it dangling
    cut_on_dash = "a" * (SLUG_MAX_LENGTH - 1) + " bcd"
    assert slugify(cut_on_dash) == "a" * (SLUG_MAX_LENGTH - 1)


@pytest.mark.parametrize("name", ["", "   ", "///", "#+.", "漢字", "---", "ß"])
def test_slugify_refuses_names_with_nothing_usable(name: str) -> None:
    with pytest.raises(InvalidSlug):
        slugify(name)


def test_slugify_output_is_always_a_slug_for_random_text() -> None:
    rng = random.Random(20240501)
    alphabet = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯ0123456789 -_/+#.\t\nàảãáạằẳẵắặầẩẫấậ漢"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        try:
            slug = slugify(text)
        except InvalidSlug:
            continue
        assert is_slug(slug), (text, slug)
