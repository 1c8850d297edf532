"""wazo-auth tokens: creation shape, errors, lookup, revocation, expiry."""

from __future__ import annotations

import re
from datetime import datetime

from tests.wazo_sim.helpers import ALICE, TENANT, WazoHttp
from wazo_sim.app import WazoSimulator

UTC_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


async def test_service_account_token_has_the_documented_shape(wazo: WazoHttp) -> None:
    reply = await wazo.token_request("phonepresence", "phonepresence-pass", {"expiration": 600})

    assert reply.status == 200
    assert reply.headers["Wazo-Sessions-Revoked"] == "0"
    wazo.spec("auth").validate_response("post", "/token", 200, reply.body)
    data = reply.body["data"]
    assert UTC_FORMAT.match(data["utc_issued_at"])
    assert UTC_FORMAT.match(data["utc_expires_at"])
    lifetime = datetime.fromisoformat(data["utc_expires_at"]) - datetime.fromisoformat(data["utc_issued_at"])
    assert lifetime.total_seconds() == 600
    assert data["metadata"]["purpose"] == "external_api"
    assert data["metadata"]["tenant_uuid"] == TENANT
    assert data["xivo_user_uuid"] is None
    assert "websocketd" in data["acl"]


async def test_user_token_carries_the_pbx_user(wazo: WazoHttp) -> None:
    reply = await wazo.token_request("alice@example.test", "alice-pass", {})

    assert reply.status == 200
    data = reply.body["data"]
    assert data["auth_id"] == ALICE
    assert data["xivo_user_uuid"] == ALICE
    assert data["metadata"]["pbx_user_uuid"] == ALICE
    assert data["metadata"]["purpose"] == "user"
    issued = datetime.fromisoformat(data["utc_issued_at"])
    assert (datetime.fromisoformat(data["utc_expires_at"]) - issued).total_seconds() == 7200


async def test_wrong_password_is_401_in_wazo_auth_error_shape(wazo: WazoHttp) -> None:
    reply = await wazo.token_request("alice", "wrong", {})

    assert reply.status == 401
    # wazo-auth's code sends float timestamps although its spec says strings (reference §2.1).
    assert reply.body["reason"] == ["Authentication Failed"]
    assert reply.body["status_code"] == 401
    assert isinstance(reply.body["timestamp"][0], float)
    assert "wrong" not in str(reply.body)


async def test_out_of_range_expiration_is_400(wazo: WazoHttp) -> None:
    for bad in (0, 315360001, "60", True):
        reply = await wazo.token_request("alice", "alice-pass", {"expiration": bad})
        assert reply.status == 400, bad
        assert reply.body["status_code"] == 400


async def test_get_head_delete_token(wazo: WazoHttp) -> None:
    token = await wazo.login("alice")

    got = await wazo.call("get", "auth", f"/token/{token}")
    assert got.status == 200
    assert got.body["data"]["token"] == token
    assert (await wazo.call("head", "auth", f"/token/{token}")).status == 204
    assert (
        await wazo.call("head", "auth", f"/token/{token}", params={"scope": "calld.users.me.calls.read"})
    ).status == 204
    assert (
        await wazo.call(
            "get", "auth", f"/token/{token}", params={"scope": "confd.users.read"}, validate=False
        )
    ).status == 403

    deleted = await wazo.call("delete", "auth", f"/token/{token}")
    assert deleted.status == 200
    assert deleted.body == {"data": {"message": "success"}}
    assert (await wazo.call("head", "auth", f"/token/{token}")).status == 404
    assert (await wazo.call("get", "calld", "/users/me/calls", token=token)).status == 401


async def test_expired_token_is_refused_everywhere(wazo: WazoHttp, sim: WazoSimulator) -> None:
    token = await wazo.login("phonepresence")
    assert (await wazo.call("get", "confd", "/users", token=token)).status == 200

    sim.expire_tokens()

    assert (await wazo.call("head", "auth", f"/token/{token}")).status == 404
    refused = await wazo.call("get", "confd", "/users", token=token)
    assert refused.status == 401
    assert refused.body["error_id"] == "unauthorized"


async def test_offline_access_gives_a_refresh_token_that_makes_new_tokens(wazo: WazoHttp) -> None:
    offline = await wazo.token_request(
        "phonepresence", "phonepresence-pass", {"access_type": "offline", "client_id": "phonepresence"}
    )
    assert offline.status == 200
    refresh_token = offline.body["data"]["refresh_token"]

    refreshed = await wazo.call(
        "post", "auth", "/token", json_body={"refresh_token": refresh_token, "client_id": "phonepresence"}
    )
    assert refreshed.status == 200
    assert refreshed.body["data"]["token"] != offline.body["data"]["token"]
    assert "refresh_token" not in refreshed.body["data"]

    wrong_client = await wazo.call(
        "post",
        "auth",
        "/token",
        json_body={"refresh_token": refresh_token, "client_id": "other"},
        validate=False,
    )
    assert wrong_client.status == 401
    no_client = await wazo.token_request("phonepresence", "phonepresence-pass", {"access_type": "offline"})
    assert no_client.status == 400
