"""Spooled results through the gateway in its default mode (envoy/envoy.yaml,
coordinators without forwarded processing): `/v1/spooled/download/{id}` and
`/v1/spooled/ack/{id}` name no query, yet must reach the coordinator that
wrote the segment. The filter learns the ids from the data pages of spooled
queries as they pass. (Self-routing URIs do this without the filter:
tests/py/test_self_routing.py.)"""

import pytest
import requests

from conftest import SPOOLING_MODES, assert_spooled_segments_reach_their_coordinator, spooling_arguments


@pytest.mark.parametrize("mode", SPOOLING_MODES)
def test_spooled_segments_reach_the_coordinator_that_made_them(start_gateway, mode):
    gateway = start_gateway(*spooling_arguments(mode))
    segments = assert_spooled_segments_reach_their_coordinator(gateway, mode)
    stats = gateway.envoy.gateway_stats()
    downloads = segments if mode.startswith("COORDINATOR") else 0
    assert stats["segments_learned"] == 2 * segments
    assert stats["segment_requests"] == 2 * (segments + downloads)


def test_forged_segment_ids_reach_no_coordinator(start_gateway):
    gateway = start_gateway("--spooling", "--spooling-retrieval-mode", "COORDINATOR_PROXY")
    before = gateway.client_requests()
    for path in ["/v1/spooled/download/Zm9yZ2Vk", "/v1/spooled/ack/Zm9yZ2Vk"]:
        answer = requests.get(gateway.envoy.url + path, timeout=5)
        assert (answer.status_code, answer.text) == (404, "Error 404 Not Found: Segment not found"), path
    assert gateway.client_requests() == before
    assert gateway.envoy.gateway_stats()["unknown_segments"] == 2
