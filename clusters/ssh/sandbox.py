"""Throwaway ssh hosts on this machine, for tests and benchmarks of the ssh provider: a local-namespace cluster
whose every node runs a real OpenSSH server (key authentication only, a key generated for the occasion).

Owns `SSHSandbox`. It is a real sshd per namespace (no mock): the ssh provider under test connects to it over
the bridge exactly as it would to a remote host. Everything is recorded in the ledger it is given, like any
cluster. Does not belong to a run; it stands in for machines a user would already have. Needs root and sshd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from clusters.daemon import start_daemon, stop_daemon
from clusters.local import PLUGIN as LOCAL
from clusters.local import LocalCluster
from harness.cluster import ClusterSpec
from harness.errors import BadInput

SSHD = "/usr/sbin/sshd"

_CONFIG = """\
Port 22
ListenAddress {ip}
HostKey {dir}/host_ed25519
PidFile none
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64
Subsystem sftp internal-sftp
SetEnv PATH={path}
"""

# A fresh server's shell starts in milliseconds. This machine's root ~/.bashrc runs `pyenv init` (about 0.5 s, a
# minute behind a stale pyenv lock), and bash runs ~/.bashrc for every command sshd starts, so every remote
# command of a run paid for it: a nine-host partition took 25 s to put in place. sshd runs in its own mount
# namespace with the startup files masked; the sessions' PATH (SetEnv above) starts with this Python's bin
# directory, as the masked file gave them, so `python3` on a sandbox host is the harness's own.
_CLEAN_SHELL = r"""h=$(getent passwd "$(id -un)" | cut -d: -f6)
for f in "$h/.bashrc" "$h/.bash_profile" "$h/.profile"; do
  [ -e "$f" ] && { mount --bind /dev/null "$f" || exit 1; }
done
exec "$@"
"""


def _session_path() -> str:
    return ":".join([os.path.dirname(sys.executable), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                     "/sbin", "/bin"])


@dataclass(kw_only=True)
class SSHSandbox:
    """`hosts` is a local cluster with sshd on every node; `key` the client's private key; `nodes_file` lists
    `name ip` per node."""

    run_id: str
    directory: str
    ledger: object
    node_names: tuple[str, ...] = ("n1", "n2", "n3")
    hosts: LocalCluster | None = None
    key: str = ""
    nodes_file: str = ""
    _pidfiles: dict[str, str] = field(default_factory=dict)

    def start(self) -> SSHSandbox:
        if shutil.which(SSHD) is None and not os.path.exists(SSHD):
            raise BadInput("the ssh sandbox needs OpenSSH's sshd (apt-get install openssh-server)")
        os.makedirs(self.directory, exist_ok=True)
        self.key = os.path.join(self.directory, "id_ed25519")
        host_key = os.path.join(self.directory, "host_ed25519")
        for path in (self.key, host_key):
            if not os.path.exists(path):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
        shutil.copyfile(self.key + ".pub", os.path.join(self.directory, "authorized_keys"))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        spec = ClusterSpec(run_id=self.run_id, system="sshd", node_names=self.node_names)
        self.hosts = LOCAL.create(spec, self.ledger)
        self.hosts.setup()
        try:
            lines = []
            for node in self.hosts.nodes:
                cfg = os.path.join(node.workdir, "sshd.conf")  # in the workdir: its path names the run
                with open(cfg, "w") as fh:
                    fh.write(_CONFIG.format(ip=node.host, dir=self.directory, path=_session_path()))
                pidfile = os.path.join(node.workdir, "sshd.pid")
                start_daemon(
                    self.hosts.remote(node.name),
                    ["unshare", "--mount", "--propagation", "private", "sh", "-c", _CLEAN_SHELL, "clean-shell",
                     SSHD, "-D", "-e", "-f", cfg], pidfile=pidfile,
                    logfile=os.path.join(node.workdir, "sshd.log"), ledger=self.ledger, settle=0.3,
                )
                self._pidfiles[node.name] = pidfile
                lines.append(f"{node.name} {node.host}\n")
            self.nodes_file = os.path.join(self.directory, "hosts.txt")
            with open(self.nodes_file, "w") as fh:
                fh.writelines(lines)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.hosts is None:
            return
        for node, pidfile in self._pidfiles.items():
            stop_daemon(self.hosts.remote(node), pidfile, sig="KILL", wait=1, ledger=self.ledger)
        self._pidfiles.clear()
        self.hosts.teardown()
        self.hosts = None
