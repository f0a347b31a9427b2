"""Two tests as a CI suite would write them against intercept-proxy (see conftest.py)."""
import pytest
import requests


def test_requests_fails_behind_the_gateway_the_way_it_does_at_work(intercept_proxy):
    # The default trust store (certifi) does not hold the gateway's root: the Zscaler-shaped failure.
    proxies = {"https": intercept_proxy.proxy_url}
    with pytest.raises(requests.exceptions.SSLError) as failure:
        requests.get("https://pypi.example/simple/", proxies=proxies, timeout=30)
    assert "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate" in str(failure.value)


def test_a_client_that_trusts_the_ca_gets_through_and_the_flow_is_recorded(intercept_proxy):
    proxies = {"https": intercept_proxy.proxy_url}
    answer = requests.get("https://api.example/v1/items?page=2", proxies=proxies,
                          verify=intercept_proxy.ca_path, timeout=30)
    assert answer.status_code == 200
    event = intercept_proxy.wait_for_flow(lambda e: e["type"] == "response")
    assert event["url"] == "https://api.example/v1/items?page=2"
    assert event["status"] == 200
    # The reset between tests left nothing of the other test behind.
    hosts = {item["event"].get("host") for item in intercept_proxy.flows()["events"]}
    assert "pypi.example" not in hosts
