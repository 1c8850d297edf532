"""A protocol-faithful Wazo simulator: wazo-auth, websocketd v2, chatd, calld and confd on one port.

Services are mounted under the public nginx prefixes of a real Wazo, so a client configured with a
base URL per service works unchanged against either::

    auth       /api/auth/0.1        POST /token, GET|HEAD|DELETE /token/{token}
    websocketd /api/websocketd/     ?token=...&version=2
    chatd      /api/chatd/1.0       /users/presences, /users/{uuid}/presences
    calld      /api/calld/1.0       /calls..., /users/me/calls..., voicemail messages and recordings
    confd      /api/confd/1.1       /users, /users/{id}, services, forwards, /lines, /extensions

In-process (tests)::

    async with WazoSimulator() as sim:            # demo_users.toml, 127.0.0.1, free port
        sim.url("calld"); sim.websocket_url
        sim.ring("bob", from_user="alice"); sim.answer(user="bob"); sim.hangup(user="bob")
        sim.state()                               # the truth per user

Standalone: ``python -m wazo_sim --config FILE --port N`` (prints ``wazo-sim listening on URL``).

Control API (JSON, private to the simulator) under ``/_sim/``:
``POST users/{u}/ring`` ``{"from_number", "from_name"}`` or ``{"from_user"}``;
``POST users/{u}/answer|hangup``; ``POST calls/{id}/answer|hold|resume|hangup`` (``reason_code``);
``POST users/{u}/voicemail`` ``{"from_number", "from_name", "duration"}``;
``PUT users/{u}/dnd`` ``{"enabled"}``; ``PUT users/{u}/registered``, ``PUT lines/{id}/registered``
``{"registered"}``; ``POST websockets/drop`` (close 1011); ``POST websockets/inject`` ``{"frame"}``;
``POST chatd/unavailable`` ``{"seconds"}`` (503); ``POST tokens/expire`` ``{"recheck_now"}``;
``GET state``; ``GET events``. ``{u}`` is a UUID, username or extension.
"""
