"""Fixtures: an in-process simulator on a free loopback port and plain aiohttp clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.wazo_sim.helpers import WazoHttp
from wazo_sim.app import WazoSimulator


@pytest.fixture
async def sim() -> AsyncIterator[WazoSimulator]:
    async with WazoSimulator() as simulator:
        yield simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def wazo(session: aiohttp.ClientSession, sim: WazoSimulator) -> WazoHttp:
    return WazoHttp(session, sim)
