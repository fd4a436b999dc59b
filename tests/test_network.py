"""Proxies and CA certificates from the environment, as curl, pip and requests read them.

The end-to-end tests run a whole campaign against the sandbox serving its API over HTTPS (a certificate from a
throwaway CA made by trustme) through a real forward proxy on 127.0.0.1: API calls go through a CONNECT
tunnel, file downloads (plain HTTP) through the proxy in the clear, and the key reaches neither the proxy nor
the file host.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from engine_helpers import fast_sandbox, load, run_config, write_campaign
from forward_proxy import ForwardProxy
from yarl import URL

from photogpt_batch.campaign import Campaign
from photogpt_batch.client import PhotoGPTClient
from photogpt_batch.engine import RunSummary
from photogpt_batch.net.network import Network, bypasses
from photogpt_batch.runner import ConfigError, RunConfig, run_campaign
from photogpt_batch.sandbox import SandboxThread

KEY = "network-test-key-0123456789"
# conftest.py clears every proxy and CA variable before each test; each test sets those it is about.


# ---- reading the environment ---------------------------------------------------------------------------


def test_lower_case_wins_and_all_proxy_fills_in() -> None:
    network = Network.from_environment({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2",
                                        "ALL_PROXY": "http://all:3"})
    assert str(network.proxies["https"].url) == "http://lower:2" and network.proxies["https"].variable == "https_proxy"
    assert str(network.proxies["http"].url) == "http://all:3" and network.proxies["http"].variable == "ALL_PROXY"


def test_a_proxy_without_a_scheme_is_http_and_its_credentials_are_kept_apart() -> None:
    proxy = Network.from_environment({"HTTPS_PROXY": "alice:s3cret@proxy.corp:3128"}).proxies["https"]
    assert str(proxy.url) == "http://proxy.corp:3128"
    assert proxy.user == "alice" and proxy.authorization == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret
    assert "s3cret" not in str(proxy) and "s3cret" not in repr(proxy)


@pytest.mark.parametrize("value", ["socks5://proxy:1080", "https://proxy:443", "http://"])
def test_a_proxy_that_cannot_work_is_an_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=r"^HTTP_PROXY: "):
        Network.from_environment({"HTTP_PROXY": value})


def test_a_password_in_a_refused_proxy_is_not_shown() -> None:
    with pytest.raises(ValueError) as refused:
        Network.from_environment({"HTTP_PROXY": "socks5://bob:hunter2@proxy:1080"})
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("no_proxy", "url", "direct"), [
    (("*",), "https://api.example.com", True),
    (("example.com",), "https://api.example.com/x", True),
    ((".example.com",), "https://example.com", True),
    (("example.com",), "https://notexample.com", False),
    (("example.com:8443",), "https://example.com:8443", True),
    (("example.com:8443",), "https://example.com", False),
    (("10.0.0.0/8",), "http://10.2.3.4:8080", True),
    (("10.0.0.0/8",), "http://11.2.3.4", False),
    (("127.0.0.1",), "http://127.0.0.1:8585/api", True),
    (("::1",), "http://[::1]:8585", True),
    ((), "http://127.0.0.1", False),
])
def test_no_proxy_follows_curls_rules(no_proxy: tuple[str, ...], url: str, direct: bool) -> None:
    assert bypasses(no_proxy, URL(url)) is direct


def test_no_proxy_is_split_on_commas_and_spaces_and_case_blind() -> None:
    network = Network.from_environment({"HTTPS_PROXY": "http://p:1", "no_proxy": " Internal.Corp, 10.0.0.0/8 "})
    assert network.proxy_for(URL("https://build.internal.corp")) is None
    assert network.proxy_for(URL("https://api.example.com")) is network.proxies["https"]


def test_a_missing_ca_file_is_an_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"SSL_CERT_FILE=.*no such file"):
        Network.from_environment({"SSL_CERT_FILE": str(tmp_path / "nope.pem")})
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot load the CA certificates"):
        Network.from_environment({"SSL_CERT_FILE": str(tmp_path / "junk.pem")})


def test_the_key_never_crosses_a_proxy_in_the_clear() -> None:
    with pytest.raises(ValueError, match=r"plain http.*NO_PROXY"):
        PhotoGPTClient("http://api.example.com/api", KEY,
                       network=Network.from_environment({"HTTP_PROXY": "http://proxy:3128"}))
    # tunnelled, or not through the proxy at all: fine
    PhotoGPTClient("https://api.example.com/api", KEY, network=Network.from_environment({"HTTPS_PROXY": "proxy:1"}))
    PhotoGPTClient("http://127.0.0.1:8585/api", KEY,
                   network=Network.from_environment({"HTTP_PROXY": "proxy:1", "NO_PROXY": "127.0.0.1"}))


# ---- end to end: HTTPS API through a CONNECT tunnel, files through the proxy ------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_sandbox(ca: trustme.CA) -> Iterator[SandboxThread]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with SandboxThread(fast_sandbox(api_key=KEY), ssl_context=context) as sandbox:
        yield sandbox


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def campaign(tmp_path: Path) -> Campaign:
    return load(write_campaign(tmp_path, jobs=2))


async def test_api_calls_tunnel_through_https_proxy_and_downloads_go_through_http_proxy(
        tls_sandbox: SandboxThread, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        summary = await _run_off_loop(campaign(tmp_path), run_config(tls_sandbox, key=KEY))

    assert summary.complete
    api = URL(tls_sandbox.base_url)
    assert proxy.tunnels() and {s.target for s in proxy.tunnels()} == {f"{api.host}:{api.port}"}
    files = URL(tls_sandbox.files_url)
    downloads = [s for s in proxy.plain() if URL(s.target).port == files.port]
    assert len(downloads) == 2 == len(proxy.plain())  # one file per job; nothing else was readable
    # The key: never in anything the proxy could read, never at the file host.
    assert all(KEY not in str(s.headers) and "Authorization" not in s.headers for s in proxy.seen)
    assert tls_sandbox.counters.credentialed_file_requests == 0


async def test_no_proxy_sends_requests_directly(tls_sandbox: SandboxThread, ca_file: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy() as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        summary = await _run_off_loop(campaign(tmp_path), run_config(tls_sandbox, key=KEY))
    assert summary.complete and proxy.seen == []


async def test_proxy_credentials_go_to_the_proxy(tls_sandbox: SandboxThread, ca_file: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy(require_auth="Basic YWxpY2U6czNjcmV0") as proxy:  # alice:s3cret
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://alice:s3cret@"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://alice:s3cret@"))
        summary = await _run_off_loop(campaign(tmp_path), run_config(tls_sandbox, key=KEY))
    assert summary.complete and proxy.tunnels() and proxy.plain()


async def test_a_proxy_that_refuses_the_tunnel_stops_the_run_before_anything_is_sent(
        tls_sandbox: SandboxThread, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async with ForwardProxy(require_auth="Basic c29tZW9uZTplbHNl") as proxy:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # no credentials: 407
        with pytest.raises(ConfigError, match=r"the proxy refused to open a tunnel \(HTTP 407"):
            await _run_off_loop(campaign(tmp_path), run_config(tls_sandbox, key=KEY))
    assert tls_sandbox.counters.requests == {}
    assert "retry" not in caplog.text  # credentials do not appear by waiting


def test_an_unreachable_proxy_is_named(tmp_path: Path, refused_port: tuple[int, object],
                                      monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{refused_port[0]}")
    config = RunConfig(base_url="https://127.0.0.1:1/api", api_key=KEY)
    with pytest.raises(ConfigError, match="could not connect to the proxy"):
        run_campaign(campaign(tmp_path), config, install_signal_handlers=False)


def test_without_the_ca_the_servers_certificate_is_refused_at_once(tls_sandbox: SandboxThread, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="certificate verify failed"):
        run_campaign(campaign(tmp_path), run_config(tls_sandbox, key=KEY), install_signal_handlers=False)
    assert "retry" not in caplog.text  # a certificate does not verify by waiting


@pytest.mark.slow
def test_a_ca_folder_works_like_a_ca_file(tls_sandbox: SandboxThread, ca_file: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to hash the folder")
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(ca_file, folder / "corporate-ca.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    summary = run_campaign(campaign(tmp_path), run_config(tls_sandbox, key=KEY), install_signal_handlers=False)
    assert summary.complete


def test_an_http_api_behind_a_proxy_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with SandboxThread(fast_sandbox()) as sandbox:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        with pytest.raises(ConfigError, match=r"plain http.*nothing was sent"):
            run_campaign(campaign(tmp_path), run_config(sandbox), install_signal_handlers=False)
        assert sandbox.counters.requests == {}


def test_netrc_credentials_are_never_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # aiohttp's trust_env=True would add them as Basic auth to any host listed, the file host included.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with SandboxThread(fast_sandbox(api_key=KEY)) as sandbox:
        summary = run_campaign(campaign(tmp_path), run_config(sandbox, key=KEY), install_signal_handlers=False)
        assert summary.complete and sandbox.counters.credentialed_file_requests == 0


def test_the_in_process_sandbox_is_never_proxied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_in_process_runs: None) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    summary = run_campaign(campaign(tmp_path), RunConfig(sandbox=True), install_signal_handlers=False)
    assert summary.complete


async def _run_off_loop(the_campaign: Campaign, config: RunConfig) -> RunSummary:
    """run_campaign runs its own event loop: run it in a thread while this test's loop serves the proxy."""
    return await asyncio.to_thread(run_campaign, the_campaign, config, None, False)
