"""A real PACS for the tests and benchmarks: Orthanc (Debian's ``orthanc`` package, which
``make test`` installs) on free local ports, filled over its REST API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def _fail(message: str) -> None:
    import pytest

    pytest.fail(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """Debian's Orthanc on two free local ports, with its store in ``root``; stop() ends it."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
        if not Path(exe).exists():
            _fail("Orthanc is not installed (make test installs Debian's orthanc)")
        self.root = root
        self.dicom_port, self.http_port = free_port(), free_port()
        config = {
            "Name": "caliper-test", "StorageDirectory": str(root / "db"),
            "IndexDirectory": str(root / "db"), "DicomAet": "ORTHANC",
            "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True, "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True, "DicomAlwaysAllowStore": True, "Plugins": [],
            "MaximumStorageCacheSize": 0,  # a file removed from its store is gone at once
        }
        (root / "orthanc.json").write_text(json.dumps(config))
        self.log = (root / "orthanc.log").open("w")
        self.proc = subprocess.Popen([exe, str(root / "orthanc.json")], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                self.rest("/system")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        _fail(f"Orthanc did not start; see {root / 'orthanc.log'}")

    def rest(self, path: str, data: bytes | None = None, method: str | None = None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def upload(self, files) -> None:
        for f in files:
            self.rest("/instances", Path(f).read_bytes())

    def instance_file(self, sop_uid: str) -> Path:
        """Where Orthanc keeps one instance's DICOM file."""
        hits = self.rest("/tools/lookup", sop_uid.encode(), "POST")
        [orthanc_id] = [h["ID"] for h in hits if h["Type"] == "Instance"]
        uuid = self.rest(f"/instances/{orthanc_id}/attachments/dicom/info")["Uuid"]
        return self.root / "db" / uuid[:2] / uuid[2:4] / uuid

    def node(self, aet: str = "ORTHANC") -> str:
        return f"{aet}@127.0.0.1:{self.dicom_port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()
