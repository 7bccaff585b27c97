"""TLS for every Dask scheduler that listens beyond loopback: certificates, ``Security``, warnings.

A Dask scheduler runs whatever pickled function a client sends it, so anyone who can open its
port can run code as the user who started it. Dask's TLS mode is mutual: the scheduler, the
workers and every client present a certificate signed by the cluster's CA and refuse peers that
do not, and a ``tls://`` listener drops plain ``tcp://`` connections. Holding the private key is
therefore the credential.

The certificates live in a private directory (mode 0700, files 0600) that the scheduler, the
workers and the clients read: by default ``$SEDFLOW_TLS_DIR``, else ``~/.sedflow/tls`` — on a
SLURM cluster the home directory is the file system the compute nodes share. The directory
holds one self-signed CA certificate that is also every endpoint's certificate (``ca.pem`` =
``cert.pem``) and its key (``key.pem``); it is created on first use, reused while valid, and
replaced when it expires. A different user, even on the same machine, cannot read it.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from distributed.security import Security

__all__ = [
    "CA_FILE",
    "CERT_FILE",
    "KEY_FILE",
    "TLS_DIR_ENV",
    "client_security",
    "dashboard_tls_config",
    "default_tls_dir",
    "ensure_tls_dir",
    "is_loopback",
    "tls_security",
    "warn_insecure",
    "worker_dashboard_env",
]

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
#: Environment variable naming the certificate directory (before the ``~/.sedflow/tls`` default).
TLS_DIR_ENV = "SEDFLOW_TLS_DIR"
# A certificate this close to its end is replaced: a cluster started now may run for days.
_RENEW_BEFORE = datetime.timedelta(days=14)


def default_tls_dir() -> Path:
    """``$SEDFLOW_TLS_DIR`` if set, else ``~/.sedflow/tls``."""
    env = os.environ.get(TLS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".sedflow" / "tls"


def _resolve(directory: str | os.PathLike | None) -> Path:
    return (Path(directory).expanduser() if directory is not None else default_tls_dir()).absolute()


def is_loopback(host: str | None) -> bool:
    """Whether a listening ``host`` is reachable from this machine only (None: Dask's 127.0.0.1 default)."""
    if host is None or host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False   # a host name or interface address other machines may resolve


def _check_private(directory: Path) -> None:
    """Refuse a certificate directory that another user could read or replace."""
    st = directory.stat()
    if st.st_uid != os.getuid():
        raise ValueError(f"TLS directory {directory} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): "
                         f"give your own with --tls-dir DIR")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ValueError(f"TLS directory {directory} is readable by other users (mode "
                         f"{stat.S_IMODE(st.st_mode):o}): its key lets anyone run code on your cluster; "
                         f"chmod 700 {directory} (and rotate the key: delete the directory's *.pem)")
    key = directory / KEY_FILE
    if key.exists() and stat.S_IMODE(key.stat().st_mode) & 0o077:
        raise ValueError(f"TLS key {key} is readable by other users: chmod 600 {key} and rotate it "
                         f"(delete the directory's *.pem)")


def _valid_until(cert_pem: bytes) -> datetime.datetime:
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise certificate creation: two clusters starting at once must not pair one's key with the other's cert."""
    fd = os.open(directory / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_tls_dir(directory: str | os.PathLike | None = None, *, quiet: bool = False) -> Path:
    """The private certificate directory, with a valid CA, certificate and key (created when missing).

    Creates ``directory`` (default :func:`default_tls_dir`) with mode 0700, refuses one that
    other users can read, and writes a fresh self-signed certificate and 2048-bit RSA key (Dask's
    ``Security.temporary()``, valid one year) when there is none or it expires within two weeks.
    Says so on stderr when it writes new ones (unless ``quiet``). Returns the absolute directory.
    """
    d = _resolve(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(d)
    with _locked(d):
        cert = d / CERT_FILE
        if (d / KEY_FILE).is_file() and cert.is_file() and (d / CA_FILE).is_file():
            try:
                end = _valid_until(cert.read_bytes())
            except ValueError:
                end = None   # unreadable: replace it
            if end is not None and end - datetime.datetime.now(datetime.UTC) > _RENEW_BEFORE:
                return d
        try:
            from distributed.security import Security
            generated = Security.temporary()
        except ImportError:
            raise ValueError("creating TLS certificates needs the cryptography package: "
                             "pip install cryptography") from None
        # Security.temporary() holds the PEM text itself in its file attributes.
        if generated.tls_scheduler_cert is None or generated.tls_scheduler_key is None:
            raise RuntimeError("distributed's Security.temporary() returned no certificate or key")
        _write_private(d / KEY_FILE, generated.tls_scheduler_key)
        _write_private(d / CERT_FILE, generated.tls_scheduler_cert)
        _write_private(d / CA_FILE, generated.tls_scheduler_cert)
        if not quiet:
            print(f"tls: wrote a new certificate and key to {d} (valid one year; workers and clients need this "
                  f"directory)", file=sys.stderr, flush=True)
    return d


def tls_security(directory: str | os.PathLike | None = None) -> Security:
    """A ``distributed.security.Security`` for every role from the certificate directory's files.

    ``require_encryption`` is on, so nothing made with it falls back to plain ``tcp://``. Raises
    ValueError when the directory lacks the files (start the cluster first, or give ``--tls-dir``).
    """
    from distributed.security import Security

    d = _resolve(directory)
    missing = [name for name in (CA_FILE, CERT_FILE, KEY_FILE) if not (d / name).is_file()]
    if missing:
        raise ValueError(f"TLS directory {d} lacks {', '.join(missing)}: a TLS scheduler's clients need the "
                         f"certificate directory its `sedflow cluster` printed (--tls-dir DIR, "
                         f"--set cluster.tls_dir=DIR or ${TLS_DIR_ENV})")
    _check_private(d)
    ca, cert, key = (str(d / name) for name in (CA_FILE, CERT_FILE, KEY_FILE))
    return Security(require_encryption=True, tls_ca_file=ca,
                    tls_client_cert=cert, tls_client_key=key,
                    tls_scheduler_cert=cert, tls_scheduler_key=key,
                    tls_worker_cert=cert, tls_worker_key=key)


def client_security(address: str, directory: str | os.PathLike | None = None) -> Security | None:
    """What a client of ``address`` connects with: the directory's certificates for ``tls://``.

    None for other protocols, and for a ``tls://`` address when no directory was named, the
    default one has no certificates and Dask's own configuration names a CA
    (``distributed.comm.tls.ca-file``): then ``Client`` takes its TLS settings from there.
    """
    if not address.startswith("tls://"):
        return None
    if directory is None and not (default_tls_dir() / KEY_FILE).is_file():
        import dask

        if dask.config.get("distributed.comm.tls.ca-file", None):
            return None
    return tls_security(directory)


def dashboard_tls_config(directory: str | os.PathLike) -> dict[str, str]:
    """Dask configuration that serves the scheduler's and workers' HTTP (dashboard, /health) over HTTPS."""
    d = _resolve(directory)
    return {"distributed.scheduler.dashboard.tls.cert": str(d / CERT_FILE),
            "distributed.scheduler.dashboard.tls.key": str(d / KEY_FILE)}


def worker_dashboard_env(directory: str | os.PathLike) -> list[str]:
    """Shell lines for a job script: the same HTTPS settings for workers started in another process."""
    import shlex

    return [f"export DASK_{key.upper().replace('.', '__').replace('-', '_')}={shlex.quote(value)}"
            for key, value in dashboard_tls_config(directory).items()]


def warn_insecure(where: str, stream: TextIO | None = None) -> None:
    """The loud warning of an explicit opt-out (on ``stream``, default stderr): anyone who reaches it runs code."""
    stream = stream if stream is not None else sys.stderr
    bar = "!" * 100
    print(f"{bar}\n!! INSECURE: {where} listens WITHOUT TLS. Anyone who can reach its port can run any code as "
          f"this user\n!! (a Dask scheduler executes the pickled functions clients send). Use --insecure only on "
          f"a network\n!! nobody else can reach; drop it to get TLS (certificates in {default_tls_dir()}).\n{bar}",
          file=stream, flush=True)
