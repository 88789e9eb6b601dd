"""Media is served to enrolled devices only, signed request by signed request, with Range support."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from loalang_protocol.http_auth import sign_request
from loalang_protocol.keys import KeyPair
from loalang_stack.services import ControllerProcess
from receiver_agent import config as config_file
from tests.testkit import Fleet, upload_media, write_steps_wav

pytestmark = pytest.mark.e2e


def test_only_a_device_signing_with_its_enrolled_key_gets_media(fleet: Fleet, controller: ControllerProcess,
                                                                 tmp_path: Path) -> None:
    sha, _ = upload_media(fleet, write_steps_wav(tmp_path / "file.wav", [440.0, 880.0]))
    content = (controller.data_dir / "media" / sha).read_bytes()
    device_id, config = fleet.enrolled_agent(area="thon-c")
    key = KeyPair.load(config_file.load(config).key_file)
    path = f"/media/{sha}"
    client = httpx.Client(base_url=fleet.http.base_url, timeout=10)

    def get(headers: dict[str, str]) -> httpx.Response:
        return client.get(path, headers=headers)

    assert get({}).status_code == 403, "unsigned"
    assert get(fleet.http.headers).status_code == 403, "an operator's token is not a device"
    assert get(sign_request(KeyPair.generate(), device_id, "GET", path)).status_code == 403, "another key"
    assert get(sign_request(key, "loa-khong-co", "GET", path)).status_code == 403, "unknown device"
    assert get(sign_request(key, device_id, "GET", f"/media/{'0' * 64}")).status_code == 403, "other path"
    stale = sign_request(key, device_id, "GET", path, now_ms=int(time.time() * 1000) - 600_000)
    assert get(stale).status_code == 403, "a signature ten minutes old"
    bad = {**sign_request(key, device_id, "GET", path), "X-Loa-Signature": "not base64 at all!"}
    assert get(bad).status_code == 403

    whole = get(sign_request(key, device_id, "GET", path))
    assert whole.status_code == 200 and whole.content == content
    part = get({**sign_request(key, device_id, "GET", path), "Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == content[1000:2000]
    missing = f"/media/{'ab' * 32}"
    assert client.get(missing, headers=sign_request(key, device_id, "GET", missing)).status_code == 404
    hostile = "/media/..%2f..%2fetc%2fpasswd"
    assert client.get(hostile, headers=sign_request(key, device_id, "GET", hostile)).status_code in (403, 404)

    assert fleet.http.delete(f"/api/v1/devices/{device_id}").status_code in (200, 204)
    assert get(sign_request(key, device_id, "GET", path)).status_code == 403, "a deleted device"
