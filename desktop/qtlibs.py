"""`python -m desktop.qtlibs` (run by `make desktop`): are the system libraries Qt needs to open a window here?

PyQt5's wheel brings Qt itself, but its X11 platform plugin (libqxcb.so) links to system
libraries that servers and minimal desktops often lack (libxcb-icccm4, libxcb-keysyms1,
libxcb-xinerama0, ...). Qt then aborts with "could not load the Qt platform plugin xcb" and no
hint. This asks the dynamic linker (`ldd`, else `ldconfig -p`) what is missing and prints the
exact packages to install on Debian/Ubuntu and on Fedora. Exit status 1 when something is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

#: Shared library → (Debian/Ubuntu package, Fedora package), for what Qt 5's xcb plugin links to.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXext.so.6": ("libxext6", "libXext"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libpng16.so.16": ("libpng16-16", "libpng"),
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def xcb_plugin_files() -> list[Path]:
    """Qt's X11 platform plugin and its library inside the installed PyQt5 (empty when PyQt5 is absent)."""
    spec = importlib.util.find_spec("PyQt5")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt5"
    files = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt5XcbQpa.so.5"]
    return [f for f in files if f.is_file()]


def not_found_in_ldd(output: str) -> list[str]:
    """The libraries `ldd` printed as `NAME => not found`, in order, once each."""
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def _known_to_linker() -> set[str]:
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    return {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}


def missing_libraries(files: Iterable[Path]) -> list[str]:
    """Shared libraries that `files` need and the dynamic linker cannot find."""
    files = list(files)
    if shutil.which("ldd"):
        output = "".join(subprocess.run(["ldd", str(f)], capture_output=True, text=True, check=False).stdout
                         for f in files)
        return not_found_in_ldd(output)
    # No ldd (musl, a stripped container): check the libraries we know Qt's plugin uses.
    known = _known_to_linker()
    return [name for name in PACKAGES if name not in known]


def packages_for(libraries: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """(Debian/Ubuntu packages, Fedora packages, libraries we know no package for), each once."""
    debian: dict[str, None] = {}
    fedora: dict[str, None] = {}
    unknown: list[str] = []
    for name in libraries:
        if name in PACKAGES:
            deb, rpm = PACKAGES[name]
            debian[deb] = fedora[rpm] = None
        else:
            unknown.append(name)
    return list(debian), list(fedora), unknown


def report(missing: list[str]) -> str:
    """What to tell the person (English and Chinese) when libraries are missing."""
    debian, fedora, unknown = packages_for(missing)
    lines = [f"Qt cannot open a window here: missing system libraries {', '.join(missing)}.",
             f"Qt 无法在此打开窗口：缺少系统库 {', '.join(missing)}。请安装："]
    if debian:
        lines.append(f"  Debian/Ubuntu: sudo apt-get install -y {' '.join(debian)}")
        lines.append(f"  Fedora:        sudo dnf install -y {' '.join(fedora)}")
    if unknown:
        lines.append(f"  (no package known for {', '.join(unknown)}: search your distribution's packages for it)")
    lines.append("Without a screen (tests, screenshots) set QT_QPA_PLATFORM=offscreen, which needs none of them. "
                 "无屏幕时设置 QT_QPA_PLATFORM=offscreen 即可。")
    return "\n".join(lines)


def main() -> int:
    """Check, print what to install when something is missing; exit status 1 then, else 0."""
    if not sys.platform.startswith("linux"):
        return 0
    platform = os.environ.get("QT_QPA_PLATFORM", "xcb")
    if not platform.startswith("xcb"):
        return 0  # offscreen, wayland, ...: the X11 plugin is not used
    files = xcb_plugin_files()
    if not files:
        print("PyQt5 is not installed: `make desktop` (or pip install -r requirements-desktop.txt) installs it.\n"
              "未安装 PyQt5：运行 `make desktop`（或 pip install -r requirements-desktop.txt）。", file=sys.stderr)
        return 1
    missing = missing_libraries(files)
    if missing:
        print(report(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
