"""ICE configuration: TURN REST credentials as coturn's use-auth-secret expects, pure functions."""
import pytest

from services.ice import ice_servers, turn_credentials, turn_password

NOW = 1_700_000_000


def test_turn_password_is_base64_hmac_sha1_of_the_username():
    # The expected value was computed with: printf %s USERNAME | openssl dgst -sha1 -hmac SECRET -binary | base64
    assert turn_password("north-wind", "1700003600:call7-visitor9") == "TypdW8aHFPAT7Y7+GALU0IQlYY4="


def test_turn_username_carries_the_expiry_first():
    username, password, expiry = turn_credentials("north-wind", "call7-visitor9", 3600, NOW)
    assert username == "1700003600:call7-visitor9" and expiry == NOW + 3600
    assert password == "TypdW8aHFPAT7Y7+GALU0IQlYY4="


@pytest.mark.parametrize("label,expected", [("a:b", "a_b"), ("", "user"), ("x" * 100, "x" * 64),
                                            ("call1-agent 2\n", "call1-agent_2_")])
def test_label_cannot_break_the_username_format(label, expected):
    username, _, _ = turn_credentials("s", label, 60, NOW)
    assert username == f"{NOW + 60}:{expected}"


def test_ttl_must_be_positive():
    with pytest.raises(ValueError):
        turn_credentials("s", "x", 0, NOW)


def test_no_turn_without_a_secret():
    servers = ice_servers(stun_urls=["stun:stun.example.test:3478"], turn_urls=["turn:turn.example.test:3478"],
                          turn_secret=None, ttl_s=600, label="x", now=NOW)
    assert servers == {"ice_servers": [{"urls": ["stun:stun.example.test:3478"]}], "expires_at": None, "ttl_s": None}


def test_turn_servers_get_expiring_credentials_and_stun_none():
    servers = ice_servers(stun_urls=["stun:a.test"], turn_urls=["turn:b.test:3478?transport=udp", "turns:b.test:5349"],
                          turn_secret="north-wind", ttl_s=600, label="call1-agent2", now=NOW)
    stun, turn = servers["ice_servers"]
    assert stun == {"urls": ["stun:a.test"]}
    assert turn["urls"] == ["turn:b.test:3478?transport=udp", "turns:b.test:5349"]
    assert turn["username"] == f"{NOW + 600}:call1-agent2"
    assert turn["credential"] == turn_password("north-wind", turn["username"])
    assert servers["expires_at"] == NOW + 600 and servers["ttl_s"] == 600


def test_urls_of_the_wrong_scheme_are_left_out():
    servers = ice_servers(stun_urls=["turn:x.test", "http://x.test"], turn_urls=["stun:y.test"], turn_secret="s",
                          ttl_s=60, label="x", now=NOW)
    assert servers["ice_servers"] == [] and servers["expires_at"] is None


def test_nothing_configured_means_no_servers():
    assert ice_servers(stun_urls=[], turn_urls=[], turn_secret=None, ttl_s=60, label="x", now=NOW)["ice_servers"] == []
