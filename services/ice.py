"""ICE server configuration for the browsers of a call: pure functions, no database.

TURN credentials use the time-limited form of the TURN REST API that coturn
checks with --use-auth-secret: the username is "<expiry unix time>:<label>",
the password is base64(HMAC-SHA1(shared secret, username)). The TURN server
refuses a username whose expiry has passed, so no long-lived TURN password
ever reaches a browser.
"""
import base64
import hashlib
import hmac
import re

TURN_SCHEMES = ("turn:", "turns:")
STUN_SCHEMES = ("stun:", "stuns:")
LABEL_MAX_LEN = 64
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def turn_password(secret, username):
    """The password coturn expects for username under the shared secret."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(secret, label, ttl_s, now):
    """A username and password valid until now + ttl_s (unix seconds); returns (username, password, expiry)."""
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    # ":" separates the expiry from the label; keep the label to plain characters.
    safe_label = _LABEL_UNSAFE.sub("_", label)[:LABEL_MAX_LEN] or "user"
    expiry = int(now) + int(ttl_s)
    username = f"{expiry}:{safe_label}"
    return username, turn_password(secret, username), expiry


def ice_servers(*, stun_urls, turn_urls, turn_secret, ttl_s, label, now):
    """The RTCIceServer list for one participant, and when its TURN credentials expire (None without TURN)."""
    servers = []
    stun = [url for url in stun_urls if url.startswith(STUN_SCHEMES)]
    if stun:
        servers.append({"urls": stun})
    turn = [url for url in turn_urls if url.startswith(TURN_SCHEMES)]
    expiry = None
    if turn and turn_secret:
        username, password, expiry = turn_credentials(turn_secret, label, ttl_s, now)
        servers.append({"urls": turn, "username": username, "credential": password})
    return {"ice_servers": servers, "expires_at": expiry, "ttl_s": int(ttl_s) if expiry else None}
