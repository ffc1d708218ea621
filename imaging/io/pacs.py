"""CT series from a PACS into a study folder: DICOM query/retrieve (C-FIND, C-GET) with
pynetdicom.

A core lab's studies often live in a PACS, not in folders. :func:`fetch` asks the PACS
(``AET@HOST:PORT``) for the CT series of the patients or studies named (C-FIND, Study
Root, at study, series and image level), and retrieves each series with C-GET: the PACS
sends the files back over the association we opened, so no port of ours has to be open to
it (C-MOVE would need the PACS to know our address). Files land in
``OUT/PATIENT/STUDY_UID/SERIES_UID/SOP_INSTANCE_UID.dcm``, each written atomically, as the
PACS sent them; the folder is then an ordinary STUDIES argument for ``caliper ls`` and
``caliper run``.

Resuming: a series whose instances (C-FIND at image level) are all on disk is not
retrieved again, and one that is partly there is retrieved without rewriting the files
already present. One series that fails (the PACS refuses the retrieval, sends fewer
instances than it listed, the connection drops) is reported and the others go on; each
series is retrieved on an association of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from pydicom.dataset import Dataset

from ..errors import InputError
from .atomic import atomic_path

__all__ = ["Node", "RemoteSeries", "fetch"]

_CT_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
)
_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
_GET = "1.2.840.10008.5.1.4.1.2.2.3"  # Study Root Query/Retrieve Information Model - GET
_PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class Node:
    """A DICOM application entity on the network, written ``AET@HOST:PORT``."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Node:
        m = re.fullmatch(r"([^@]{1,16})@([^:@]+):(\d{1,5})", text.strip())
        if not m or not 0 < int(m.group(3)) < 65536:
            raise InputError(f"PACS {text!r}: expected AET@HOST:PORT, for example "
                             "ORTHANC@pacs.example.org:4242 (AE title at most 16 characters)")
        return cls(m.group(1), m.group(2), int(m.group(3)))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


@dataclass
class RemoteSeries:
    """One CT series the PACS holds, and what became of it in :func:`fetch`."""

    patient_id: str
    study_uid: str
    study_date: str
    series_uid: str
    series_number: str
    description: str
    sop_uids: list[str] = field(default_factory=list, repr=False)
    """the instances the PACS lists for the series (C-FIND at image level)"""
    already_here: int = 0
    received: int = 0
    status: str = "pending"
    """``present`` (nothing to retrieve), ``fetched`` or ``failed``"""
    error: str = ""

    @property
    def instances(self) -> int:
        return len(self.sop_uids)

    def folder(self, out: Path) -> Path:
        return out / _safe(self.patient_id) / self.study_uid / self.series_uid

    def to_dict(self) -> dict:
        d = asdict(self)
        d["instances"] = len(d.pop("sop_uids"))
        return d


def _safe(text: str) -> str:
    """A patient id as a folder name: characters a file system may refuse become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text.strip()) or "_"


class _Session:
    """One association with the PACS; the calls raise :class:`InputError` naming it."""

    def __init__(self, node: Node, calling_aet: str, timeout: float, store=None) -> None:
        from pynetdicom import AE, build_role, evt

        ae = AE(ae_title=calling_aet)
        for t in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(ae, t, timeout)
        ae.add_requested_context(_FIND)
        roles, handlers = [], []
        if store is not None:
            ae.add_requested_context(_GET)
            for sop_class in _CT_STORAGE:
                ae.add_requested_context(sop_class)
                roles.append(build_role(sop_class, scp_role=True))
            handlers.append((evt.EVT_C_STORE, store))
        self.node = node
        self.assoc = ae.associate(node.host, node.port, ae_title=node.aet, ext_neg=roles,
                                  evt_handlers=handlers)
        if not self.assoc.is_established:
            why = ("rejected the association (is our AE title "
                   f"{calling_aet!r} known to it, and is its own AE title right?)"
                   if self.assoc.is_rejected else "could not be reached")
            raise InputError(f"PACS {node}: {why}")

    def close(self) -> None:
        if self.assoc.is_established:
            self.assoc.release()

    def find(self, query: Dataset) -> list[Dataset]:
        found = []
        for status, identifier in self.assoc.send_c_find(query, _FIND):
            if not status:  # no response: timed out or aborted
                raise InputError(f"PACS {self.node}: no answer to the query "
                                 f"({query.QueryRetrieveLevel} level)")
            if status.Status in _PENDING:
                found.append(identifier)
            elif status.Status != 0x0000:
                raise InputError(f"PACS {self.node}: query at {query.QueryRetrieveLevel} "
                                 f"level refused (status 0x{status.Status:04X})")
        return found

    def get(self, series: RemoteSeries) -> str:
        """C-GET one series; '' when the PACS reports success, else why not."""
        query = _query("SERIES", StudyInstanceUID=series.study_uid,
                       SeriesInstanceUID=series.series_uid)
        final = None
        for status, _ in self.assoc.send_c_get(query, _GET):
            if not status:
                return "the connection timed out or was aborted during the retrieval"
            final = status
        if final is None:
            return "no answer to the retrieval"
        if final.Status not in (0x0000, 0xB000):
            from pynetdicom.status import QR_GET_SERVICE_CLASS_STATUS

            what = QR_GET_SERVICE_CLASS_STATUS.get(final.Status, ("", "failure"))[1]
            return f"the PACS answered the retrieval with status 0x{final.Status:04X} ({what})"
        return ""


@contextmanager
def _session(node: Node, calling_aet: str, timeout: float, store=None) -> Iterator[_Session]:
    s = _Session(node, calling_aet, timeout, store)
    try:
        yield s
    finally:
        s.close()


def _query(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def find_series(session: _Session, *, patients=(), studies=(), since: str = "",
                modality: str = "CT") -> list[RemoteSeries]:
    """The PACS's series of ``modality`` for the patients (C-FIND wildcards allowed) or
    studies given, from ``since`` (YYYYMMDD) on, with their instances' UIDs."""
    date = f"{since}-" if since else ""
    study_queries = [{"PatientID": p} for p in patients] + [
        {"StudyInstanceUID": s} for s in studies]
    found: dict[str, Dataset] = {}
    for keys in study_queries:
        q = _query("STUDY", **{"PatientID": "", "StudyInstanceUID": "", "StudyDate": date,
                               **keys})
        for hit in session.find(q):
            found.setdefault(_text(hit, "StudyInstanceUID"), hit)
    series = []
    for study_uid, study in sorted(found.items(), key=lambda kv: _text(kv[1], "StudyDate")):
        q = _query("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID="",
                   Modality=modality, SeriesNumber="", SeriesDescription="")
        for hit in session.find(q):
            if _text(hit, "Modality") not in ("", modality):  # a PACS that ignores the key
                continue
            s = RemoteSeries(_text(study, "PatientID"), study_uid, _text(study, "StudyDate"),
                             _text(hit, "SeriesInstanceUID"), _text(hit, "SeriesNumber"),
                             _text(hit, "SeriesDescription"))
            q = _query("IMAGE", StudyInstanceUID=study_uid, SeriesInstanceUID=s.series_uid,
                       SOPInstanceUID="")
            s.sop_uids = sorted({_text(h, "SOPInstanceUID") for h in session.find(q)} - {""})
            series.append(s)
    return series


def fetch(
    node: Node,
    out: Path,
    *,
    patients: tuple[str, ...] = (),
    studies: tuple[str, ...] = (),
    since: str = "",
    calling_aet: str = "CALIPER",
    timeout: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[RemoteSeries]:
    """Retrieve the CT series of ``patients`` / ``studies`` from ``node`` into ``out``.

    Raises :class:`InputError` when the PACS cannot be reached, refuses the query, or holds
    no CT series for what was asked (each names the PACS, or the patients and studies); a
    series that fails to arrive is marked ``failed`` with the reason, the others go on.
    """
    if not patients and not studies:
        raise InputError("name the patients (--patient, wildcards allowed) or studies "
                         "(--study) to fetch; Caliper does not copy a whole PACS")
    connect = partial(_session, node, calling_aet, timeout)
    with connect() as session:
        series = find_series(session, patients=patients, studies=studies, since=since)
    if not series:
        asked = ", ".join([f"patient {p}" for p in patients] + [f"study {s}" for s in studies])
        raise InputError(f"PACS {node}: no CT series for {asked}"
                         + (f" since {since}" if since else ""))
    total = sum(s.instances for s in series)
    done = 0
    for s in series:
        folder = s.folder(out)
        here = {p.stem for p in folder.glob("*.dcm")} if folder.is_dir() else set()
        s.already_here = len(here & set(s.sop_uids))
        if s.already_here == s.instances:
            s.status = "present"
        else:
            reason = _retrieve(connect, s, folder, here, done, total, progress)
            missing = s.instances - s.already_here - s.received
            if missing:
                lost = f"{missing} of the {s.instances} instances the PACS listed did not arrive"
                s.error = f"{reason}; {lost}" if reason else lost
            s.status = "failed" if s.error else "fetched"
        done += s.instances
        if progress:
            progress(done, total)
        if log:
            log(f"patient {s.patient_id} study {s.study_date or 'undated'} series "
                f"{s.series_number} {s.description!r}: {s.status}"
                + (f" ({s.error}; series {s.series_uid})" if s.error else
                   f" ({s.received} received, {s.already_here} already here)"))
    return series


def _retrieve(connect, series: RemoteSeries, folder: Path, here: set[str], done: int,
              total: int, progress) -> str:
    """C-GET one series into ``folder`` on an association of its own (``connect(store)``),
    keeping the files already there."""
    expected = set(series.sop_uids)

    def store(event) -> int:
        ds = event.dataset
        uid = _text(ds, "SOPInstanceUID")
        if _text(ds, "SeriesInstanceUID") != series.series_uid or not uid:
            return 0xC000  # not part of the series asked for: refused, not filed wrongly
        if uid not in here:
            with atomic_path(folder / f"{uid}.dcm") as tmp:
                tmp.write_bytes(event.encoded_dataset())
            here.add(uid)
            if uid in expected:
                series.received += 1
            if progress:
                progress(done + series.already_here + series.received, total)
        return 0x0000

    try:
        with connect(store) as session:
            return session.get(series)
    except InputError as exc:
        return str(exc)
