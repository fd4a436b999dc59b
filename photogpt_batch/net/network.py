"""How requests leave this machine: the proxy for each URL and the certificates TLS trusts, read from the
environment as curl, pip and requests read it.

* ``HTTPS_PROXY`` / ``HTTP_PROXY`` name the proxy for ``https://`` / ``http://`` URLs, ``ALL_PROXY`` the proxy
  for both when the first is not set; the lower-case forms win over the upper-case ones; an empty value is
  unset; a proxy without a scheme (``proxy:3128``) is ``http://``. Only ``http://`` proxies are supported: an
  ``https://`` URL goes through them in a ``CONNECT`` tunnel, so the proxy sees only the host name.
* ``NO_PROXY`` lists hosts reached directly: ``*`` (every host), a name (``example.com`` also covers
  ``api.example.com``; a leading dot is ignored), a name with a port, an IP address or a CIDR block
  (``10.0.0.0/8``, ``::1``). Loopback is not special: as with curl, add ``localhost,127.0.0.1`` to reach a
  local server around a proxy.
* ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` add a CA bundle / a folder of hashed CA certificates (``c_rehash``) to
  the ones TLS trusts, as OpenSSL's own tools do.

aiohttp's ``trust_env=True`` is not used: it also reads ``~/.netrc`` and would add a Basic ``Authorization``
header for any host listed there, download hosts included (and clash with the API key on the API's host); it
drops ``https://`` proxies with only a log line; it knows no CIDR blocks in ``NO_PROXY``; and it builds its TLS
context when aiohttp is imported. Here a client middleware routes each request, API calls and file downloads
alike, and the TLS context is built when the session is.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from ..errors import UsageError

#: Each URL scheme's proxy variables, in the order they are looked up (lower case first, as requests does).
PROXY_VARIABLES: dict[str, tuple[str, ...]] = {
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "http": ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"),
}
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
CA_FILE_VARIABLE, CA_DIR_VARIABLE = "SSL_CERT_FILE", "SSL_CERT_DIR"


class NetworkSettingError(UsageError, ValueError):
    """A proxy or CA variable that cannot work; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


@dataclass(frozen=True)
class Proxy:
    """A forward proxy: its URL without credentials, the credentials apart, and the variable it came from."""

    url: URL
    user: str | None
    authorization: str | None = field(repr=False)  # the Proxy-Authorization header's value
    variable: str = ""

    def __str__(self) -> str:
        user = f" (as {self.user})" if self.user is not None else ""
        return f"{self.url}{user}, from {self.variable}"


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _parse_proxy(variable: str, value: str) -> Proxy:
    """``value`` of ``variable`` as a `Proxy`; ValueError naming the variable (never showing a password)."""
    text = value if "://" in value else f"http://{value}"
    shown = "the value (not shown: it contains '@')" if "@" in value else repr(value)
    try:
        url = URL(text)
        host = url.host
    except (TypeError, ValueError) as exc:
        raise NetworkSettingError(variable, f"{variable}: not a URL: {shown}") from exc
    if url.scheme != "http" or not host:
        raise NetworkSettingError(variable, f"{variable}: {shown} is not supported: give an http:// proxy such as "
                                  "http://proxy:3128 (https:// URLs go through it in a CONNECT tunnel)")
    authorization = None
    if url.user is not None:
        credentials = f"{url.user}:{url.password or ''}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    return Proxy(url.with_user(None).with_path("").with_query(None), url.user, authorization, variable)


def _no_proxy_entries(value: str) -> tuple[str, ...]:
    return tuple(entry.strip().lower() for entry in value.replace(" ", ",").split(",") if entry.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def bypasses(no_proxy: tuple[str, ...], url: URL) -> bool:
    """Whether a ``NO_PROXY`` list (already split) sends ``url`` directly, with curl's rules."""
    host = (url.host or "").lower().rstrip(".")
    address = _ip(host)
    for entry in no_proxy:
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, _, port = entry.lstrip(".").partition(":") if entry.count(":") == 1 else (entry.lstrip("."), "", "")
        if port and port != str(url.port):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


@functools.lru_cache(maxsize=8)
def _tls_context(ca_file: str | None, ca_dir: str | None) -> ssl.SSLContext:
    # Cached: loading the system's CA certificates takes tens of milliseconds, and a context is shareable.
    context = ssl.create_default_context()
    if ca_file or ca_dir:
        context.load_verify_locations(cafile=ca_file, capath=ca_dir)
    return context


@dataclass(frozen=True)
class Network:
    """The proxies and CA certificates requests use. `from_environment` reads them; `direct` uses none."""

    proxies: Mapping[str, Proxy] = field(default_factory=dict)
    no_proxy: tuple[str, ...] = ()
    ca_file: str | None = None
    ca_dir: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Network:
        """The settings in ``environ`` (default ``os.environ``); `NetworkSettingError` (a ValueError) names the
        variable that cannot work."""
        env = os.environ if environ is None else environ
        proxies = {}
        for scheme, names in PROXY_VARIABLES.items():
            found = _first(env, names)
            if found is not None:
                proxies[scheme] = _parse_proxy(*found)
        no_proxy = _first(env, NO_PROXY_VARIABLES)
        ca_file = env.get(CA_FILE_VARIABLE) or None
        ca_dir = env.get(CA_DIR_VARIABLE) or None
        if ca_file is not None and not os.path.isfile(ca_file):
            raise NetworkSettingError(CA_FILE_VARIABLE, f"{CA_FILE_VARIABLE}={ca_file}: no such file; it should name "
                                      "a PEM file of the CA certificates to trust")
        if ca_dir is not None and not os.path.isdir(ca_dir):
            raise NetworkSettingError(CA_DIR_VARIABLE, f"{CA_DIR_VARIABLE}={ca_dir}: no such folder; it should name "
                                      "a folder of hashed CA certificates (c_rehash)")
        network = cls(proxies, _no_proxy_entries(no_proxy[1]) if no_proxy else (), ca_file, ca_dir)
        if ca_file or ca_dir:
            network.tls_context()  # a CA file that is not PEM is found now, not at the first handshake
        return network

    @classmethod
    def direct(cls) -> Network:
        """No proxy and the system's CA certificates: for the in-process sandbox, which never needs a proxy."""
        return cls()

    def proxy_for(self, url: URL) -> Proxy | None:
        """The proxy a request to ``url`` goes through, or None for a direct connection."""
        proxy = self.proxies.get(url.scheme)
        if proxy is None or bypasses(self.no_proxy, url):
            return None
        return proxy

    def check_api(self, base_url: URL) -> None:
        """ValueError when the API key would reach a proxy in the clear: an ``http://`` API URL through a proxy
        (an ``https://`` one is tunnelled: the proxy sees only the host name)."""
        proxy = self.proxy_for(base_url)
        if proxy is not None and base_url.scheme != "https":
            raise ValueError(f"the API at {base_url} is plain http and {proxy.variable} would send it, key and all, "
                             f"through the proxy {proxy.url}: use https, or add {base_url.host} to NO_PROXY")

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context for every https connection: the system's CAs plus SSL_CERT_FILE / SSL_CERT_DIR."""
        try:
            return _tls_context(self.ca_file, self.ca_dir)
        except (ssl.SSLError, OSError) as exc:
            where = " / ".join(filter(None, [self.ca_file, self.ca_dir]))
            raise NetworkSettingError(CA_FILE_VARIABLE if self.ca_file else CA_DIR_VARIABLE,
                                      f"cannot load the CA certificates in {where} ({CA_FILE_VARIABLE} / "
                                      f"{CA_DIR_VARIABLE}): {exc}") from exc

    def session_options(self) -> dict[str, object]:
        """Keyword arguments for `aiohttp.ClientSession`: the TLS context and the middleware that routes each
        request through its proxy (``trust_env`` stays off; see the module's docstring)."""
        # Without CA settings, aiohttp's own verified context (the system's CAs, made when aiohttp is imported):
        # making another costs tens of milliseconds of every command, https or not.
        ssl_setting: ssl.SSLContext | bool = self.tls_context() if self.ca_file or self.ca_dir else True
        return {"connector": aiohttp.TCPConnector(ssl=ssl_setting), "middlewares": (self._route,)}

    async def _route(self, request: aiohttp.ClientRequest,
                     handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        proxy = self.proxy_for(request.url)
        if proxy is not None:
            if request.url.scheme != "https" and "Authorization" in request.headers:
                # check_api refuses such a client before it sends anything; this is the backstop.
                raise ValueError(f"refusing to send credentials in the clear through the proxy {proxy.url}")
            headers = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
            if request.url.scheme == "https":
                request.update_proxy(proxy.url, None, headers)  # sent with the CONNECT only
            else:
                request.update_proxy(proxy.url, None, None)
                request.headers.update(headers or {})  # the request itself goes to the proxy
        return await handler(request)
