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


async def test_a_whole_list_read_with_pages_in_flight_keeps_confd_order(monkeypatch) -> None:
    async with WazoSimulator() as sim:
        settings = WazoSettings(sim.base_url, SERVICE_USERNAME, Secret(SERVICE_PASSWORD))
        async with WazoClient(settings) as wazo:
            in_one_page = [u.uuid for u in await wazo.confd.list_users()]
            reads = sim.core.user_list_reads
            monkeypatch.setattr(type(wazo.confd), "PAGE_SIZE", 1)  # the first page, then two at once
            assert [u.uuid for u in await wazo.confd.list_users()] == in_one_page
            assert sim.core.user_list_reads - reads == 4  # three pages and the empty one after
