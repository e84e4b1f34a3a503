#!/usr/bin/env bash
# System packages the project needs: FluidSynth (renders the embedded dataset), a General MIDI soundfont and
# Chromium (the test that the listening page's players load their audio). Installs only what is missing, so a
# second run costs nothing. Debian/Ubuntu: apt-get. macOS: Homebrew (FluidSynth); the soundfont by MMGEN_SOUNDFONT.
set -euo pipefail

if [ "$(uname -s)" = Darwin ]; then
  found=""
  for lib in /opt/homebrew/lib /usr/local/lib; do
    ls "$lib"/libfluidsynth*.dylib >/dev/null 2>&1 && found="$lib"
  done
  if [ -z "$found" ]; then
    if ! command -v brew >/dev/null; then
      echo "[mmgen] FluidSynth is missing and Homebrew (https://brew.sh) is not installed: install Homebrew, then" >&2
      echo "        \`brew install fluid-synth\` (or install FluidSynth another way) and run this again." >&2
      exit 1
    fi
    echo "[mmgen] installing FluidSynth with Homebrew"
    brew install fluid-synth >/dev/null || { echo "[mmgen] \`brew install fluid-synth\` failed (see above)" >&2; exit 1; }
    found="$(brew --prefix)/lib"
  fi
  # pyfluidsynth looks for the library by name: let it see Homebrew's folder
  echo "[mmgen] FluidSynth: $found (export DYLD_LIBRARY_PATH=$found if the dataset build cannot load it)"
  if [ -z "${MMGEN_SOUNDFONT:-}" ] || [ ! -f "${MMGEN_SOUNDFONT}" ]; then
    echo "[mmgen] no General MIDI soundfont: download one (e.g. FluidR3_GM.sf2, GeneralUser GS) and" >&2
    echo "        export MMGEN_SOUNDFONT=/path/to/it.sf2 before building the dataset." >&2
    exit 1
  fi
  command -v chromium >/dev/null || echo "[mmgen] no chromium: the listening-page browser test will skip" \
    "(brew install --cask chromium to run it)"
  exit 0
fi

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
