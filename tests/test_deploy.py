"""The deployment kit in deploy/: Debian's nginx runs deploy/nginx/animals.conf in front of a real gunicorn.

Checked through the proxy, on 127.0.0.x loopback addresses and free ports: uploads are answered,
the size limit gives the app's own error (and nginx's beyond its own limit), a slow upload ties
up no gunicorn thread (request buffering), and the client's address reaches the app (rate limits
count per client, and a forged X-Forwarded-For changes nothing). The systemd units agree with it.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import register_tiny
from tests.imagegen import encode, shapes
from tests.web_support import ROOT, free_port, wait_until_up, worker_env
from webapp.config import Defaults

pytestmark = pytest.mark.timeout(240)
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "animals.conf"
CERT_PATH = "/etc/letsencrypt/live/animals.example.com/fullchain.pem"
KEY_PATH = "/etc/letsencrypt/live/animals.example.com/privkey.pem"


def nginx_binary() -> str | None:
    """Debian's nginx, if installed."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def site_body_limit() -> int:
    return _size(re.search(r"^\s*client_max_body_size\s+(\S+);", SITE.read_text(), re.M).group(1))


class FromAddress(HTTPAdapter):
    """Connect from a chosen loopback address (127.0.0.x), as if from another client machine."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str, cert: Path) -> requests.Session:
    session = requests.Session()
    session.mount("https://", FromAddress(address))
    session.verify = str(cert)
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
    return session


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx/animals.conf should contain {old!r} once"
    return text.replace(old, new)


def site_for_test(tmp: Path, *, http_port: int, https_port: int, app_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx/animals.conf with only the machine-specific parts (ports, paths) replaced."""
    text = SITE.read_text()
    for old, new in (("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
                     ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"), ("listen [::]:443 ssl;", ""),
                     (CERT_PATH, str(cert)), (KEY_PATH, str(key)),
                     ("/srv/animals/webapp/static/", f"{ROOT}/webapp/static/"),
                     ("/var/www/letsencrypt", str(tmp / "acme"))):
        text = _replace_once(text, old, new)
    return text


def nginx_conf(tmp: Path, site: Path) -> str:
    """A whole nginx.conf of the test's own (pid, logs and temp files in `tmp`) that includes the site."""
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    mime = "    include /etc/nginx/mime.types;\n" if Path("/etc/nginx/mime.types").is_file() else ""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers may then read the checkout and write `tmp`
    return (f"{user}daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} info;\n"
            f"events {{ worker_connections 128; }}\nhttp {{\n{mime}    access_log {tmp / 'access.log'};\n{temp}\n"
            f"    include {site};\n}}\n")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture
def proxied_site(app, tiny_model, tmp_path):
    """gunicorn (1 worker, 1 thread, rate limit 3 per hour) behind nginx running the shipped site file."""
    binary = nginx_binary()
    if binary is None:
        reason = "nginx is not installed; enable the deployment test with `apt-get install -y nginx`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run installs it)")
        pytest.skip(reason)
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed for a test certificate): `apt-get install -y openssl`")
    register_tiny(app, tiny_model)
    work = tmp_path / "nginx"
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "acme"):
        (work / kind).mkdir(parents=True)
    cert, key = _self_signed(work)
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    env = worker_env(app, ANIMALS_TRUSTED_PROXIES="1", ANIMALS_RATELIMIT_PREDICT="3 per hour")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
                            f"127.0.0.1:{app_port}", "--workers", "1", "--threads", "1", "wsgi:app"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    site = work / "site.conf"
    site.write_text(site_for_test(work, http_port=http_port, https_port=https_port, app_port=app_port, cert=cert, key=key))
    conf = work / "nginx.conf"
    conf.write_text(nginx_conf(work, site))
    checked = subprocess.run([binary, "-t", "-p", str(work), "-e", str(work / "error.log"), "-c", str(conf)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen([binary, "-p", str(work), "-e", str(work / "error.log"), "-c", str(conf)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"https://127.0.0.1:{https_port}"
    try:
        wait_until_up(base, "/readyz", timeout=90, verify=str(cert))
        yield {"base": base, "http": f"http://127.0.0.1:{http_port}", "https_port": https_port, "cert": cert}
    finally:
        logs = [_stop(proxy), _stop(web), (work / "error.log").read_text(errors="replace")]
        print("\n".join(logs)[-6000:])  # shown by pytest only when the test failed


def _upload(session: requests.Session, base: str, data: bytes, **headers) -> requests.Response:
    return session.post(base + "/api/v1/predict", files={"file": ("photo.jpg", data, "image/jpeg")},
                        headers=headers, timeout=60)


def test_nginx_allows_a_little_more_than_the_app_so_the_app_answers_oversized_photos():
    limit = site_body_limit()
    assert Defaults.MAX_CONTENT_LENGTH < limit <= Defaults.MAX_CONTENT_LENGTH + 1024**2
    assert f"the limit is {Defaults.MAX_CONTENT_LENGTH / 1024 / 1024:g} MB" in SITE.read_text()


def test_uploads_limits_buffering_and_client_addresses_through_nginx(proxied_site):
    base, cert = proxied_site["base"], proxied_site["cert"]
    alice, bob = client_from("127.0.0.2", cert), client_from("127.0.0.3", cert)
    photo = encode(shapes(3, size=(640, 480)), quality=90)

    # An upload through TLS and the proxy is answered by the model.
    answer = _upload(alice, base, photo)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"]
    # Plain HTTP is sent to HTTPS; static files come from nginx itself.
    redirect = requests.get(proxied_site["http"] + "/x?y=1", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "https://127.0.0.1/x?y=1"
    static = alice.get(base + "/static/app.css", timeout=10)
    assert static.status_code == 200 and "gunicorn" not in static.headers.get("Server", "").lower()

    # Just over the app's limit: the app's own JSON error, through nginx.
    over_app = b"\xff\xd8" + os.urandom(Defaults.MAX_CONTENT_LENGTH + 1024)
    response = _upload(bob, base, over_app)
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large", response.text[:300]
    # Beyond nginx's own limit: cut off by nginx, with the same JSON shape.
    response = _upload(bob, base, os.urandom(site_body_limit() + 1024))
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"

    # Request buffering: a client stuck half-way through an upload holds no gunicorn thread (it has one).
    import ssl

    raw = ssl.create_default_context(cafile=str(cert)).wrap_socket(
        socket.create_connection(("127.0.0.1", proxied_site["https_port"]), timeout=30), server_hostname="127.0.0.1")
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    raw.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 100000\r\n\r\n" + part + b"\xff" * 1000)  # the app would wait for the rest
    try:
        started = time.monotonic()
        assert alice.get(base + "/healthz", timeout=20).status_code == 200
        assert time.monotonic() - started < 10  # without buffering it waits for the stuck upload
    finally:
        raw.close()

    # Client addresses: the limit (3 per hour) counts per client, so alice is stopped and bob is not...
    assert _upload(alice, base, photo).status_code == 200
    assert _upload(alice, base, photo).status_code == 200
    limited = _upload(alice, base, photo)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert _upload(bob, base, photo).status_code == 200
    # ...and a forged X-Forwarded-For buys no fresh quota: the app trusts only the entry nginx wrote.
    assert _upload(bob, base, photo, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 200
    assert _upload(bob, base, photo, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 429


def test_systemd_units_run_what_the_site_and_the_docs_expect():
    web = configparser.ConfigParser(interpolation=None, strict=False)
    web.read(DEPLOY / "systemd" / "animals-web.service")
    worker = configparser.ConfigParser(interpolation=None, strict=False)
    worker.read(DEPLOY / "systemd" / "animals-worker@.service")
    start = web["Service"]["ExecStart"]
    assert "gunicorn -c /srv/animals/gunicorn.conf.py" in start and start.endswith("wsgi:app")
    upstream = re.search(r"server (127\.0\.0\.1:\d+);", SITE.read_text()).group(1)
    assert f"--bind {upstream}" in start  # nginx talks to the port gunicorn listens on, on loopback only
    assert worker["Service"]["ExecStart"].endswith("flask --app wsgi worker --name %H-%i")
    for unit in (web, worker):
        assert unit["Service"]["EnvironmentFile"] == "/etc/animals/animals.env"
        assert unit["Service"]["WorkingDirectory"] == "/srv/animals"
    settings = dict(line.split("=", 1) for line in (DEPLOY / "animals.env.example").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert settings["ANIMALS_TRUSTED_PROXIES"] == "1"  # the one nginx in front
    assert settings["REDIS_URL"].startswith("redis://:") and "@" in settings["REDIS_URL"]  # with a password
    assert settings["DATABASE_URL"].startswith("postgresql://")
    # The gunicorn settings the units rely on exist (a typo would only show on the server).
    assert Path(start.split()[0]).name == "gunicorn" and (ROOT / "gunicorn.conf.py").is_file()


@pytest.mark.parametrize("value", [-1, "one", 1.5, True])
def test_trusted_proxies_must_be_a_count(tmp_path, value):
    from webapp import create_app

    with pytest.raises(ValueError, match="TRUSTED_PROXIES must be the number of proxies in front of the app"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "TRUSTED_PROXIES": value})


def test_trusted_proxies_wraps_the_app_in_proxy_fix(tmp_path):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from webapp import create_app

    assert not isinstance(create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)}).wsgi_app, ProxyFix)
    wrapped = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "TRUSTED_PROXIES": 2}).wsgi_app
    assert isinstance(wrapped, ProxyFix) and (wrapped.x_for, wrapped.x_proto, wrapped.x_host) == (2, 2, 2)


def test_a_redis_password_never_shows_in_readyz_or_logs(tmp_path):
    from webapp import create_app
    from webapp.logmask import mask_url as shown_url

    assert shown_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert shown_url("rediss://animals:s3cret@redis.internal/1") == "rediss://animals:***@redis.internal/1"
    assert shown_url("redis://h:6379/0?password=s3cret&db=1") == "redis://h:6379/0?password=***&db=1"
    assert shown_url("unix:///srv/redis.socket") == "unix:///srv/redis.socket"
    port = free_port()  # nothing listens there
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "REDIS_URL": f"redis://:s3cret@127.0.0.1:{port}/0",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    import logging

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("webapp.health").addHandler(handler)
    try:
        body = app.test_client().get("/readyz").get_data(as_text=True)
    finally:
        logging.getLogger("webapp.health").removeHandler(handler)
    assert "s3cret" not in body and body.strip() == '{"status":"not_ready"}'
    assert any(":***@127.0.0.1" in line for line in records) and not any("s3cret" in line for line in records)


def test_uploads_are_answered_when_the_rate_limit_storage_fails(tmp_path, embedded_redis, tiny_model):
    """The limiter's Redis away (or its storage failing) must not turn uploads into 500s."""
    import io

    from tests.conftest import make_app

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=dead)
    register_tiny(app, tiny_model)
    assert app.config["RATELIMIT_SWALLOW_ERRORS"] is True
    photo = encode(shapes(4), quality=90)
    response = app.test_client().post("/api/v1/predict", data={"file": (io.BytesIO(photo), "p.jpg")})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["predictions"]
