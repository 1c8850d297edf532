"""confd user listing against the simulator: full paging, and a bounded read for searches."""

from __future__ import annotations

from presence.sources.wazo.client import WazoClient
from presence.sources.wazo.config import Secret, WazoSettings
from tests.wazo_client.sim_driver import SERVICE_PASSWORD, SERVICE_USERNAME
from wazo_sim.app import WazoSimulator


async def test_list_users_pages_to_the_end_or_stops_at_the_bound(monkeypatch) -> None:
    async with WazoSimulator() as sim:
        settings = WazoSettings(sim.base_url, SERVICE_USERNAME, Secret(SERVICE_PASSWORD))
        async with WazoClient(settings) as wazo:
            monkeypatch.setattr(type(wazo.confd), "PAGE_SIZE", 2)  # 3 users: two pages
            everyone = await wazo.confd.list_users()
            assert sorted(u.email for u in everyone) == [
                "alice@example.test",
                "bob@example.test",
                "carol@example.test",
            ]
            two = await wazo.confd.list_users(at_most=2)
            assert len(two) == 2
            one = await wazo.confd.list_users(search="o", at_most=1)  # bob and carol match
            assert len(one) == 1
