"""desktop.qtlibs (`make desktop`'s first step): names the missing system libraries Qt's X11 plugin needs
and the exact packages to install, checked against the dynamic linker of this very machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from desktop.qtlibs import PACKAGES, missing_libraries, not_found_in_ldd, packages_for, report, xcb_plugin_files
from tests.web_support import ROOT

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd4b5e8000)
\tlibQt5XcbQpa.so.5 => /venv/PyQt5/Qt5/plugins/platforms/../../lib/libQt5XcbQpa.so.5 (0x00007f0c7d200000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0c7d1d0000)
\tlibxcb-xinerama.so.0 => not found
\tlibxcb-icccm.so.4 => not found
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux only")


def test_ldd_output_gives_each_missing_library_once():
    assert not_found_in_ldd(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"]
    assert not_found_in_ldd("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n") == []


def test_the_packages_are_named_exactly_for_debian_and_fedora():
    debian, fedora, unknown = packages_for(not_found_in_ldd(LDD_OUTPUT) + ["libxkbcommon-x11.so.0", "libfoo.so.3"])
    assert debian == ["libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0", "libxkbcommon-x11-0"]
    assert fedora == ["xcb-util-wm", "xcb-util-keysyms", "libxcb", "libxkbcommon-x11"]
    assert unknown == ["libfoo.so.3"]
    text = report(["libxcb-icccm.so.4", "libxcb-xinerama.so.0"])
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-xinerama0" in text
    assert "sudo dnf install -y xcb-util-wm libxcb" in text
    assert "缺少系统库" in text and "QT_QPA_PLATFORM=offscreen" in text


def test_every_library_the_installed_plugin_links_to_has_packages():
    files = xcb_plugin_files()
    assert [f.name for f in files] == ["libqxcb.so", "libQt5XcbQpa.so.5"]
    output = "".join(subprocess.run(["ldd", str(f)], capture_output=True, text=True).stdout for f in files)
    needed = {line.split()[0] for line in output.splitlines() if "=>" in line}
    bundled_or_base = {n for n in needed if n.startswith(("libQt5", "libicu", "libc.", "libm.", "libdl.", "libpthread.",
                                                          "libstdc++", "libgcc_s", "linux-vdso", "librt."))}
    # Libraries that come with every system that has the above (pulled in by them, never missing alone).
    transitive = {"libbsd.so.0", "libmd.so.0", "libexpat.so.1", "libbrotlicommon.so.1", "libbrotlidec.so.1",
                  "libpcre2-8.so.0", "libsystemd.so.0", "libcap.so.2", "libgcrypt.so.20", "libgpg-error.so.0",
                  "liblz4.so.1", "liblzma.so.5", "libzstd.so.1", "libz.so.1", "libpcre.so.3"}
    assert needed - bundled_or_base - transitive <= set(PACKAGES), needed - bundled_or_base - transitive - set(PACKAGES)


def test_the_check_agrees_with_the_linker_on_this_machine():
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    known = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
    missing = missing_libraries(xcb_plugin_files())
    assert not set(missing) & known  # nothing reported that the linker has
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    done = subprocess.run([sys.executable, "-m", "desktop.qtlibs"], cwd=ROOT, env=env, capture_output=True, text=True)
    if missing:
        debian, _fedora, _unknown = packages_for(missing)
        assert done.returncode == 1
        assert f"sudo apt-get install -y {' '.join(debian)}" in done.stderr
    else:
        assert done.returncode == 0 and done.stderr == ""


def test_offscreen_needs_no_check():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", "desktop.qtlibs"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
