#!/usr/bin/env bash
# Installs the system parts civgis's maps and tests use, only where they are missing:
#   - a CJK font (printed patrol maps render Chinese text; no tofu boxes)
#   - headless Chromium (the browser tests open the generated maps and report)
#   - QGIS's Python bindings (a test opens the workspace in QGIS headless and renders it)
#   - LibreOffice Calc and poppler (a test prints the ledger workbook to PDF and reads it)
# Uses Debian/Ubuntu packages; needs root or sudo. Elsewhere it says what to install.
set -u
need=()
if ! fc-list 2>/dev/null | grep -qiE 'Noto Sans CJK|WenQuanYi|Source Han Sans'; then
  need+=(fonts-noto-cjk fontconfig)
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  need+=(chromium)
fi
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1; then
  need+=(python3-qgis qgis-providers)
fi
if ! command -v soffice >/dev/null 2>&1; then
  need+=(libreoffice-calc)
fi
if ! command -v pdftoppm >/dev/null 2>&1; then
  need+=(poppler-utils)
fi
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "civgis: please install: ${need[*]} (needs root)" >&2; exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "civgis: no apt-get here; please install a CJK font, Chromium, python3-qgis and LibreOffice Calc: ${need[*]}" >&2
  exit 1
fi
echo "civgis: installing ${need[*]} …"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fc-cache -f >/dev/null 2>&1 || true
