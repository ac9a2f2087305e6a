"""hub/deploy/: the production shape's examples really work (issue 15 item 3).

- nginx-blo-hub.conf: `nginx -t`, then nginx run unprivileged-style on loopback ports with a
  test-made prefix and a self-signed certificate, in front of two real `hub serve` processes:
  a request over TLS reaches the hub, plain HTTP is redirected to HTTPS.
- blo-hub@.service: an INI file with the keys systemd needs; `systemd-analyze verify` when
  this machine has it.
- blo-hub.cron: each line a cron.d entry (five time fields, a user, a command) running the
  README's verbs.
"""

from __future__ import annotations

import configparser
import datetime
import http.client
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.serve_support import REPO, Server, free_port, hub_cli, hub_env

DEPLOY = REPO / "hub" / "deploy"


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; CI must test the nginx example (.ci/run)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("hub.example.org"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"nginx-blo-hub.conf no longer has {old!r}: update this test"
    return text.replace(old, new)


def test_nginx_site_parses_and_proxies_tls_to_two_hub_processes(tmp_path):
    nginx = _nginx()
    env = hub_env(tmp_path, f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    hub_cli(env, "init")
    servers = [Server(env, tmp_path / f"serve{i}.log") for i in range(2)]
    prefix = tmp_path / "nginx"
    for folder in ("logs", "tmp", "conf"):
        (prefix / folder).mkdir(parents=True)
    cert, key = _self_signed(prefix / "conf")
    http_port, https_port = free_port(), free_port()

    site = (DEPLOY / "nginx-blo-hub.conf").read_text()
    site = _replace(site, "server 127.0.0.1:5000;", f"server 127.0.0.1:{servers[0].port};")
    site = _replace(site, "server 127.0.0.1:5001;", f"server 127.0.0.1:{servers[1].port};")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = _replace(site, "/etc/ssl/blo-hub/fullchain.pem", str(cert))
    site = _replace(site, "/etc/ssl/blo-hub/privkey.pem", str(key))
    (prefix / "conf" / "blo-hub.conf").write_text(site)
    temp = prefix / "tmp"
    # As root (CI containers) workers would drop to "nobody" and lose the test's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = prefix / "conf" / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {prefix}/logs/access.log;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n"
        f"  include {prefix}/conf/blo-hub.conf;\n"
        "}\n"
    )
    command = [nginx, "-p", str(prefix), "-c", str(main)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr

    proxy = None
    try:
        for server in servers:
            server.start()
        proxy = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 15
        while True:
            try:
                connection = http.client.HTTPSConnection(
                    "127.0.0.1", https_port, timeout=5, context=context
                )
                connection.request("GET", "/healthz", headers={"Host": "hub.example.org"})
                response = connection.getresponse()
                body = response.read()
                connection.close()
                break
            except ConnectionRefusedError:
                assert proxy.poll() is None, proxy.stderr.read()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.1)
        assert response.status in (200, 503), body  # the hub's own health answer
        assert b'"status"' in body

        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        plain.request("GET", "/login", headers={"Host": "hub.example.org"})
        redirect = plain.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://hub.example.org/login"
        plain.close()
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGQUIT)
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait(timeout=10)
            proxy.stderr.close()
        for server in servers:
            server.stop()


def test_systemd_unit_has_what_systemd_needs(tmp_path):
    unit = DEPLOY / "blo-hub@.service"
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(unit.read_text())
    assert parser.sections() == ["Unit", "Service", "Install"]
    service = parser["Service"]
    assert service["ExecStart"].split()[1:] == ["serve", "--host", "127.0.0.1", "--port", "%i"]
    assert service["ExecStart"].startswith("/")  # systemd wants an absolute path
    assert service["User"]
    assert service["EnvironmentFile"].startswith("/")
    assert service["Restart"] == "on-failure"
    assert parser["Install"]["WantedBy"] == "multi-user.target"

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # verify wants the executable to exist: point it at this venv's hub.
    copy = tmp_path / "blo-hub@.service"
    hub_exe = Path(shutil.which("hub") or sys.executable)
    copy.write_text(unit.read_text().replace("/srv/blo-hub/.venv/bin/hub", str(hub_exe)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_cron_lines_are_cron_d_entries_running_the_documented_verbs():
    lines = [
        line
        for line in (DEPLOY / "blo-hub.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 2
    commands = []
    for line in lines:
        fields = line.split(None, 6)
        minute, hour, day, month, weekday, user, command = fields
        for field, top in ((minute, 59), (hour, 23)):
            assert field == "*" or 0 <= int(field) <= top
        assert (day, month, weekday) == ("*", "*", "*")
        assert user == "blohub"
        # cron turns a bare % into a newline: every one must be escaped.
        assert "%" not in command.replace("\\%", "")
        commands.append(command)
    assert ".venv/bin/hub backup -o /var/backups/blo-hub/" in commands[0]
    assert ".venv/bin/hub audit checkpoint --all" in commands[1]
