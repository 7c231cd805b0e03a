#!/usr/bin/env bash
# The VAD comparison (docs/benchmarks.md, "Voice activity detection"): makes the test audio at run
# time with flite, espeak-ng and sox into .test-runs/bench-vad/, then runs every detector of
# core/bot/media/vad.h over it with build/bench_vad and prints Markdown tables.
#
#   bench/vad.sh [BUILD_DIR]        (default: build; needs a build with SOVA_TESTS=ON)
#
# Materials, each at 8 and 16 kHz:
#   speech    eight sentences, two voices (flite slt, espeak-ng en-us) alternating, 0.6-1.6 s pauses,
#             over line noise; at 8 kHz band-limited to 300-3400 Hz and through μ-law like a phone
#             line. Labelled from the clean synthesis (bench_vad: frames above -45 dBFS).
#   music     hold music: a plucked melody over sine chords, a little noise, 24 s, after 3 s of line.
#   keyboard  typing: short filtered noise clicks at irregular intervals over line noise, 20 s,
#             after 3 s of line.
#   line      silence with line noise (pink and brown noise, about -50 dBFS), 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=.test-runs/bench-vad
ninja -C "$BUILD" bench_vad >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT/clips"
RANDOM=9 # the same pauses and clicks on every run
export SOX_OPTS="-R" # and the same noise (sox's repeatable mode)

SENTENCES=(
  "Hello, this is Sova calling from Alpha Family Clinic."
  "Could you please confirm your date of birth for me?"
  "Sure, it is March the fourth, nineteen eighty two."
  "Thank you. We have you down for Tuesday at ten thirty."
  "Actually, could we move that to the afternoon instead?"
  "Of course. Would three fifteen on Wednesday work for you?"
  "Yes, that works. Do I need to bring anything?"
  "Just your insurance card and a list of your current medications."
)

WAV="-c 1 -b 16 -e signed-integer"

# line noise of $2 seconds at rate $1 into $3: pink hiss and a brown rumble, about -50 dBFS RMS
line_noise() {
  sox -n -r "$1" $WAV "$3.pink.wav" synth "$2" pinknoise vol -50dB
  sox -n -r "$1" $WAV "$3.brown.wav" synth "$2" brownnoise vol -46dB
  sox -m -v 1 "$3.pink.wav" -v 1 "$3.brown.wav" "$3"
  rm -f "$3.pink.wav" "$3.brown.wav"
}

for rate in 8000 16000; do
  dir="$OUT/$rate"
  mkdir -p "$dir"
  parts=()
  sox -n -r "$rate" $WAV "$dir/lead.wav" trim 0 1.0
  parts+=("$dir/lead.wav")
  for i in "${!SENTENCES[@]}"; do
    raw="$OUT/clips/s$i.wav"
    if [ ! -f "$raw" ]; then
      if (( i % 2 == 0 )); then
        flite -voice slt -t "${SENTENCES[$i]}" -o "$raw"
      else
        espeak-ng -v en-us -s 165 -w "$raw" "${SENTENCES[$i]}"
      fi
    fi
    sox "$raw" -r "$rate" $WAV "$dir/s$i.wav" norm -3
    pause=0.$((6 + RANDOM % 10)) # (not in $(...): a subshell reseeds RANDOM)
    [ $((RANDOM % 3)) -eq 0 ] && pause=1.$((RANDOM % 7))
    sox -n -r "$rate" $WAV "$dir/p$i.wav" trim 0 "$pause"
    parts+=("$dir/s$i.wav" "$dir/p$i.wav")
  done
  sox "${parts[@]}" "$dir/speech_clean.wav"
  len=$(soxi -D "$dir/speech_clean.wav")
  line_noise "$rate" "$len" "$dir/speech_noise.wav"
  if [ "$rate" = 8000 ]; then
    # A phone line: band-limited, μ-law coded and decoded, noise on the line.
    sox -m -v 1 "$dir/speech_clean.wav" -v 1 "$dir/speech_noise.wav" -t wav - sinc 300-3400 |
      sox -t wav - -e u-law -t wav - | sox -t wav - $WAV "$dir/speech.wav"
  else
    sox -m -v 1 "$dir/speech_clean.wav" -v 1 "$dir/speech_noise.wav" "$dir/speech.wav"
  fi

  # Hold music: a melody of plucked notes over a held triad per bar, with a little hiss; no gaps
  # between notes (hold music is continuous).
  notes=(E4 G4 A4 C5 B4 G4 E4 D4 C4 E4 G4 C5 A4 F4 D4 G4 E4 C4 D4 E4 G4 A4 G4 E4)
  chords=("C3 E3 G3" "A2 C3 E3" "F2 A2 C3" "G2 B2 D3")
  mparts=()
  for j in "${!notes[@]}"; do
    read -r a b c <<< "${chords[$(( (j / 4) % 4 ))]}"
    sox -n -r "$rate" $WAV "$dir/m$j.wav" synth 1.0 pluck "${notes[$j]}" vol 0.5 \
      synth 1.0 sine mix "$a" synth 1.0 sine mix "$b" synth 1.0 sine mix "$c" vol 0.3
    mparts+=("$dir/m$j.wav")
  done
  sox "${mparts[@]}" "$dir/music_tones.wav"
  line_noise "$rate" "$(soxi -D "$dir/music_tones.wav")" "$dir/music_noise.wav"
  sox -m -v 0.5 "$dir/music_tones.wav" -v 1 "$dir/music_noise.wav" "$dir/music_only.wav" norm -12
  # As on a call: the line first (3 s), then the hold music starts, so adaptive detectors meet it
  # with a floor learnt on the line.
  line_noise "$rate" 3 "$dir/before.wav"
  sox "$dir/before.wav" "$dir/music_only.wav" "$dir/music.wav"

  # Keyboard: six kinds of click (a few ms of band-passed noise with a fast decay), irregular gaps.
  for k in 0 1 2 3 4 5; do
    lo=$((400 + k * 300)); hi=$((2500 + k * 200)); [ "$hi" -ge $((rate / 2)) ] && hi=$((rate / 2 - 100))
    sox -n -r "$rate" $WAV "$dir/c$k.wav" synth 0.0$((4 + k)) whitenoise sinc "$lo-$hi" fade 0 0.0$((4 + k)) 0.0$((3 + k)) vol 0.$((3 + k))
  done
  kparts=()
  total=0
  while [ "$total" -lt 20000 ]; do
    gap=$((60 + RANDOM % 260))
    [ $((RANDOM % 8)) -eq 0 ] && gap=$((600 + RANDOM % 900)) # a pause in the typing
    sox -n -r "$rate" $WAV "$dir/g$total.wav" trim 0 "$(printf '%d.%03d' $((gap / 1000)) $((gap % 1000)))"
    kparts+=("$dir/c$((RANDOM % 6)).wav" "$dir/g$total.wav")
    total=$((total + gap + 8))
  done
  sox "${kparts[@]}" "$dir/keys.wav"
  line_noise "$rate" "$(soxi -D "$dir/keys.wav")" "$dir/keys_noise.wav"
  sox -m -v 1 "$dir/keys.wav" -v 1 "$dir/keys_noise.wav" "$dir/keys_only.wav"
  sox "$dir/before.wav" "$dir/keys_only.wav" "$dir/keyboard.wav"

  line_noise "$rate" 20 "$dir/line.wav"

  for m in speech_clean speech music keyboard line; do
    sox "$dir/$m.wav" -t raw "$dir/$m.raw"
  done
done

echo "# VAD comparison: $(date -u +%Y-%m-%d), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for rate in 8000 16000; do
  dir="$OUT/$rate"
  for m in speech music keyboard line; do
    printf '%s at %d Hz: %.1f s, %s dBFS RMS\n' "$m" "$rate" "$(soxi -D "$dir/$m.wav")" \
      "$(sox "$dir/$m.wav" -n stats 2>&1 | awk '/RMS lev dB/ {print $4}')"
  done
done
echo
echo "| material | rate | frame | detector | false trigger | miss | false starts / min | start latency p50 / p90 | segments heard | CPU / frame |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for rate in 8000 16000; do
  dir="$OUT/$rate"
  for frame in 10 20; do
    "$BUILD/bench_vad" "$rate" "$frame" "speech=$dir/speech.raw:$dir/speech_clean.raw" \
      "music=$dir/music.raw" "keyboard=$dir/keyboard.raw" "line=$dir/line.raw"
  done
done
