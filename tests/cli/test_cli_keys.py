"""`hub keys ...` and `hub package ...` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub import app_keyring, create_app
from hub.extensions import db
from hub.models import AuditEntry, Exchange, PackageReceipt
from tests.conftest import _settings
from tests.operations.test_packages import on, other_hub, send_exchange, two_hubs, user_actor  # noqa: F401


@pytest.fixture(autouse=True)
def _request(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_init_list_rotate_rewrap(app):
    result = run(app, "keys", "init")
    assert result.exit_code == 0, result.output
    assert "made _hub  sign v1" in result.output
    assert "made QB    enc  v1" in result.output
    again = run(app, "keys", "init")
    assert "(0 keys made)" in again.output
    listing = run(app, "keys", "list").output
    fingerprint = app_keyring.keyring().list_keys("KM")[0].fingerprint
    assert fingerprint in listing
    assert "private" in listing
    rotated = run(app, "keys", "rotate", "KM")
    assert rotated.exit_code == 0
    assert "version 2" in rotated.output
    rewrapped = run(app, "keys", "rewrap", "KM")
    assert rewrapped.exit_code == 0
    assert "may be retired" in rewrapped.output
    assert (
        db.session.scalar(
            select(func.count()).where(AuditEntry.action.in_(["keys_rotated", "keys_rewrapped"]))
        )
        >= 2
    )
    unknown = run(app, "keys", "rotate", "XX")
    assert unknown.exit_code == 1
    assert "Traceback" not in unknown.output + unknown.stderr


def test_export_and_import_public_show_fingerprints(app, other_hub, tmp_path):  # noqa: F811
    run(app, "keys", "init", "--org", "QB")
    out = tmp_path / "qb.pub.json"
    assert run(app, "keys", "export-public", "QB", "-o", str(out)).exit_code == 0
    fingerprints = [k["fingerprint"] for k in json.loads(out.read_text())["keys"]]
    with on(other_hub):
        refused = run(other_hub, "keys", "import-public", str(out), input="n\n")
        assert refused.exit_code != 0
        assert not (Path(other_hub.config["HUB"].keys_dir) / "QB").exists()
        accepted = run(other_hub, "keys", "import-public", str(out), input="y\n")
        assert accepted.exit_code == 0, accepted.output
        for fp in fingerprints:
            assert fp in accepted.output
        assert "telephone" in accepted.output
        # A substituted key at a known version is refused, nothing overwritten.
        forged = json.loads(out.read_text())
        run(other_hub, "keys", "init", "--org", "SV")
        sv = json.loads(app_keyring.keyring().export_public("SV"))
        forged["keys"][0] = sv["keys"][0]
        (tmp_path / "forged.json").write_text(json.dumps(forged))
        result = run(other_hub, "keys", "import-public", str(tmp_path / "forged.json"), "--yes")
        assert result.exit_code == 1
        assert "different" in result.stderr
        broken = tmp_path / "broken.json"
        broken.write_text(out.read_text()[:100])
        result = run(other_hub, "keys", "import-public", str(broken), "--yes")
        assert result.exit_code != 0
        assert "not a valid public key export" in result.stderr


def test_wrong_passphrase_is_one_clear_line(app, tmp_path, database_url):
    run(app, "keys", "init")
    settings = _settings(tmp_path, database_url, key_passphrase="another passphrase")
    wrong = create_app(settings)
    with wrong.test_request_context(headers={"Accept-Language": "en"}):
        result = run(wrong, "keys", "rotate", "QB")
        db.session.remove()
    assert result.exit_code == 1
    assert "passphrase" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_without_passphrase_makes_a_demo_one_and_says_so(
    tmp_path, database_url, monkeypatch
):
    monkeypatch.delenv("HUB_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("HUB_KEY_PASSPHRASE_FILE", raising=False)
    settings = _settings(tmp_path / "dev", database_url)
    settings = type(settings)(**{**settings.__dict__, "key_passphrase": None})
    dev = create_app(settings)
    with dev.test_request_context(headers={"Accept-Language": "en"}):
        result = run(dev, "keys", "init")
        db.session.remove()
    assert result.exit_code == 0, result.output
    path = settings.instance_path / app_keyring.DEMO_PASSPHRASE_FILE
    assert "DEMO keyring passphrase" in result.stderr
    assert str(path) in result.stderr
    assert path.stat().st_mode & 0o777 == 0o600


def test_package_verbs_round_trip(two_hubs, tmp_path):  # noqa: F811
    hub_a, hub_b = two_hubs
    qb = user_actor("qb.cli", "QB")
    exchange = send_exchange(qb)
    package = tmp_path / "out.json"
    result = run(hub_a, "package", "export", str(exchange.id), "--to", "KM", "-o", str(package))
    assert result.exit_code == 0, result.output
    again = run(hub_a, "package", "export", str(exchange.id), "--to", "KM", "-o", str(package))
    assert again.exit_code != 0
    receipt = tmp_path / "receipt.json"
    with on(hub_b):
        tampered = tmp_path / "tampered.json"
        tampered.write_text(package.read_text().replace('"version": 1', '"version": 9', 1))
        refused = run(hub_b, "package", "import", str(tampered), "-r", str(tmp_path / "no.json"))
        assert refused.exit_code == 1
        assert "format and version" in refused.stderr
        assert not (tmp_path / "no.json").exists()
        imported = run(hub_b, "package", "import", str(package), "-r", str(receipt))
        assert imported.exit_code == 0, imported.output + imported.stderr
        assert db.session.scalar(select(func.count()).select_from(Exchange)) == 1
    recorded = run(hub_a, "package", "receipt", str(receipt))
    assert recorded.exit_code == 0, recorded.stderr
    assert "KM's receipt" in recorded.output
    assert db.session.scalar(select(PackageReceipt.exchange_id)) == exchange.id


def test_production_reads_the_passphrase_file_and_refuses_an_empty_or_demo_one(tmp_path):
    from hub.config import ConfigError, Settings

    base = {
        "env": "production",
        "instance_path": str(tmp_path),
        "secret_key": "x7Qp2vN9rT4mK8sW1zY6bH3jL5cF0dG2aE9",
    }
    path = tmp_path / "passphrase"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        Settings.from_env({**base, "key_passphrase_file": str(path)})
    path.write_text("demo-demo-demo-demo\n")
    with pytest.raises(ConfigError, match="demo value"):
        Settings.from_env({**base, "key_passphrase_file": str(path)})
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.from_env({**base, "key_passphrase_file": str(tmp_path / "missing")})
    path.write_text("wB4 kayak lantern 91 pepper\nignored second line\n")
    settings = Settings.from_env({**base, "key_passphrase_file": str(path)})
    assert app_keyring.read_passphrase(settings) == ("wB4 kayak lantern 91 pepper", None)
