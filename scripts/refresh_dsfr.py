"""Refresh the State design system (DSFR) files vendored under idp/static/dsfr/.

    python3 scripts/refresh_dsfr.py            # the version below
    python3 scripts/refresh_dsfr.py 1.15.4     # another one (then update VERSION here)

Only this script needs npm (it fetches the published package with `npm pack`); installing
and running the provider never needs Node.js. It copies what the pages use, nothing more:
the minified stylesheet, the Marianne fonts in woff2, the few icons the components draw,
the favicons and the licence. The stylesheet keeps its relative `fonts/` and `icons/` addresses, which
resolve beside it; only its woff fallbacks and the Spectral faces (files not copied) are
taken out, so that every font it names is here.
"""

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.15.3"
TARGET = Path(__file__).resolve().parent.parent / "idp" / "static" / "dsfr"
FONTS = [f"Marianne-{weight}{style}.woff2" for weight in ("Light", "Regular", "Medium", "Bold") for style in ("", "_Italic")]
# The icons that the components of our pages draw (alerts, error messages, external links).
# A template that uses another component may need more: the browser test lists any 404.
ICONS = [
    "system/fr--error-fill.svg",
    "system/fr--info-fill.svg",
    "system/fr--success-fill.svg",
    "system/fr--warning-fill.svg",
    "system/external-link-line.svg",
    "arrows/arrow-right-line.svg",  # the back office's breadcrumb and tiles
    "arrows/arrow-right-s-line.svg",  # the back office's side menu
]
FAVICONS = ["favicon.svg", "favicon.ico", "apple-touch-icon.png"]
WOFF_FALLBACK = re.compile(r',url\(fonts/[\w-]+\.woff\) format\("woff"\)')
SPECTRAL_FACE = re.compile(r"@font-face\{[^}]*font-family:Spectral;[^}]*\}")


def slim_stylesheet(css):
    """The stylesheet without the font files we do not ship (woff fallbacks, Spectral)."""
    css, fallbacks = WOFF_FALLBACK.subn("", css)
    css, faces = SPECTRAL_FACE.subn("", css)
    if fallbacks != 10 or faces != 2:
        sys.exit(f"unexpected stylesheet: {fallbacks} woff fallbacks and {faces} Spectral faces (expected 10 and 2)")
    return css


def main(version):
    with tempfile.TemporaryDirectory() as folder:
        command = ["npm", "pack", "--silent", f"@gouvfr/dsfr@{version}", "--pack-destination", folder]
        packed = subprocess.run(command, capture_output=True, text=True, cwd=folder)  # noqa: S603 (npm from the PATH, our arguments)
        if packed.returncode:
            sys.exit(packed.stderr)
        (archive,) = Path(folder).glob("*.tgz")
        with tarfile.open(archive) as tar:

            def read(name):
                return tar.extractfile(f"package/{name}").read()

            if TARGET.exists():
                for child in TARGET.iterdir():
                    if child.name != "README.md":
                        shutil.rmtree(child) if child.is_dir() else child.unlink()
            TARGET.mkdir(parents=True, exist_ok=True)
            css = read("dist/dsfr.min.css").decode("utf-8")
            (TARGET / "dsfr.min.css").write_text(slim_stylesheet(css), encoding="utf-8")
            (TARGET / "LICENSE.md").write_bytes(read("LICENSE.md"))
            names = [f"fonts/{font}" for font in FONTS] + [f"icons/{icon}" for icon in ICONS] + [f"favicon/{icon}" for icon in FAVICONS]
            for name in names:
                (TARGET / name).parent.mkdir(parents=True, exist_ok=True)
                (TARGET / name).write_bytes(read(f"dist/{name}"))
    readme = TARGET / "README.md"
    if readme.exists():
        readme.write_text(re.sub(r"@gouvfr/dsfr@[\d.]+", f"@gouvfr/dsfr@{version}", readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"DSFR {version} copied to {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else VERSION)
