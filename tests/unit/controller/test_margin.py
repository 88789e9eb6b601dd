"""A broadcast's start margin: the floor for a commune, in proportion for a province, capped."""

from __future__ import annotations

import pytest

from controller.broadcasting.margin import MAX_MARGIN_MS, start_margin_ms
from controller.settings import Settings

pytestmark = pytest.mark.unit


def settings() -> Settings:
    return Settings(environment="test", broadcast_margin_ms=3000, broadcast_margin_per_receiver_ms=1.0,
                    media_downloads_per_s=250,
                    media_download_mb_per_s=50)


def test_a_commune_starts_after_the_floor_and_a_province_later_in_proportion() -> None:
    commune = start_margin_ms(settings(), receivers=30, file_bytes=0)
    assert 3000 <= commune <= 3050
    province = start_margin_ms(settings(), receivers=10_000, file_bytes=0)
    assert province == 3000 + 10_000  # 1 ms a receiver for the fan-out


def test_a_file_to_download_adds_the_downloads_and_the_bytes() -> None:
    without = start_margin_ms(settings(), receivers=1000, file_bytes=0)
    small = start_margin_ms(settings(), receivers=1000, file_bytes=8_000)
    large = start_margin_ms(settings(), receivers=1000, file_bytes=1_200_000)
    assert small - without == 4000 + 160  # 1,000 downloads at 250 a second, 8 MB at 50 MB/s
    assert large - small > 20_000


def test_the_margin_is_capped() -> None:
    assert start_margin_ms(settings(), receivers=1_000_000, file_bytes=10_000_000) == MAX_MARGIN_MS
