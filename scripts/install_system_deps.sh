#!/usr/bin/env bash
# Debian packages the project needs: FluidSynth (renders the embedded dataset), a General MIDI soundfont and
# Chromium (the test that the listening page's players load their audio). Installs only what is missing, so a
# second run costs nothing.
set -euo pipefail
need=()
ldconfig -p 2>/dev/null | grep -q libfluidsynth || need+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "Please install FluidSynth, a General MIDI soundfont and Chromium (${need[*]}) with your package manager," >&2
  echo "then set MMGEN_SOUNDFONT=/path/to/soundfont.sf2 if it is not under /usr/share/sounds/sf2." >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "[mmgen] installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
