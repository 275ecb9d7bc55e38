"""A non-root account for the permission tests: root may write anything, so a read-only file or
folder only means something to another user. Created (``useradd --system``) when the tests run
as root, as they do in CI."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEST_USER", "unprivileged_user", "as_user", "open_folder"]

TEST_USER = "civgis-test"


def unprivileged_user() -> pwd.struct_passwd | None:
    """The test account (created when we are root), or None when we are not root."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(TEST_USER)


def as_user(cmd: list[str]) -> list[str]:
    """``cmd`` run as the test account when we are root; unchanged otherwise."""
    user = unprivileged_user()
    if user is None:
        return cmd
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--", *cmd]


@contextmanager
def open_folder(prefix: str):
    """A folder under /tmp every user can read (pytest's tmp_path is root-only 0700), removed after."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        shutil.rmtree(folder, ignore_errors=True)
