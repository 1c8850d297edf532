-- Prosody 0.12: declare the phonepresence component (add to prosody.cfg.lua, then reload).
-- The secret must equal the one phonepresence reads from PHONEPRESENCE_COMPONENT_SECRET.

-- Small presence stanzas should not wait for the peer's delayed ACK (about 40 ms otherwise).
network_settings = { nagle = false }

Component "phone.example.org"
    component_secret = "change-me"
    -- Optional accelerator (XEP-0356, Debian package prosody-modules): lets the component
    -- learn users' chat presence without a subscription prompt and add phone contacts to
    -- rosters. Also load "privilege" in the VirtualHost's modules_enabled and set there:
    --   privileged_entities = { ["phone.example.org"] = { roster = "both"; presence = "managed_entity"; } }
    -- modules_enabled = { "privilege" }
