#!/usr/bin/env bash
# The hold watcher's test audio, made at run time (nothing recorded is committed) with sox, flite
# and espeak-ng (declared dependencies: scripts/install-deps), as a phone line carries it: 8 kHz,
# 300-3400 Hz, through μ-law, over line noise (pink and brown, about -50 dBFS). Used by
# core/tests/test_media_hold.c and bench/voice_hold.sh.
#
#   core/tests/hold_audio.sh OUTDIR
#
# Into OUTDIR, raw signed 16-bit little-endian mono at 8000 Hz:
#   music_*.raw   hold music, -20 dBFS RMS, 12-24 s each (loop them for longer holds):
#                 melody    a plucked melody over held triads (bench/vad.sh's)
#                 tremolo   sine triads with a 5 Hz, 60 % tremolo, a new chord every 2 s
#                 arpeggio  plucked arpeggios, 5 notes a second
#                 legato    a sawtooth melody over a square bass, notes joined
#                 beat      kick, hi-hat 4 a second, a sine pad
#                 chords    plucked triads, 2 a second
#                 pad       a slow swell (0.4 Hz tremolo, 80 %)
#                 staccato  plucked notes of 120 ms with 130 ms rests: dips like syllables, on a beat
#                 stabs     sawtooth notes of 180 ms with 130 ms rests
#   voice_*.raw   a representative picking up, -21 dBFS RMS, six voices (flite slt, kal, rms, awb;
#                 espeak-ng en-us, en-gb); message_*.raw, recorded hold messages (flite, espeak-ng);
#                 greeting.raw, flite slt: "hello this is karen from provider services" (a grammar's)
#   line.raw      10 s of line noise alone
set -euo pipefail
OUT=${1:?usage: hold_audio.sh OUTDIR}
mkdir -p "$OUT"
cd "$OUT"
export SOX_OPTS="-R" # the same noise on every run
WAV="-r 8000 -c 1 -b 16 -e signed-integer"

line_noise() { # seconds out
  sox -n $WAV n.pink.wav synth "$1" pinknoise vol -50dB
  sox -n $WAV n.brown.wav synth "$1" brownnoise vol -46dB
  sox -m -v 1 n.pink.wav -v 1 n.brown.wav "$2"
  rm -f n.pink.wav n.brown.wav
}

# in rms_dbfs name: band-limit, set the level, add the line, μ-law both ways, raw out
phone() {
  sox "$1" $WAV b.wav sinc 300-3400
  local rms gain
  rms=$(sox b.wav -n stats 2>&1 | awk '/RMS lev dB/ {print $4}')
  gain=$(awk -v t="$2" -v r="$rms" 'BEGIN {print t - r}')
  sox b.wav g.wav gain "$gain"
  line_noise "$(soxi -D g.wav)" l.wav
  sox -m -v 1 g.wav -v 1 l.wav -t wav - | sox -t wav - -e u-law -t wav - | sox -t wav - -t raw -e signed-integer -b 16 "$3.raw"
  rm -f b.wav g.wav l.wav
}

# notes into name.wav: each note "len synth-args..." as one sox synth call, concatenated
seq_notes() {
  local name=$1; shift
  local parts=() k=0
  for spec in "$@"; do
    # shellcheck disable=SC2086
    sox -n $WAV "n$k.wav" $spec
    parts+=("n$k.wav")
    k=$((k + 1))
  done
  sox "${parts[@]}" "$name.wav"
  rm -f "${parts[@]}"
}

ARP=(C4 E4 G4 C5 G4 E4 A3 C4 E4 A4 E4 C4 F3 A3 C4 F4 C4 A3 G3 B3 D4 G4 D4 B3)

# melody: bench/vad.sh's hold music
notes=(E4 G4 A4 C5 B4 G4 E4 D4 C4 E4 G4 C5 A4 F4 D4 G4 E4 C4 D4 E4 G4 A4 G4 E4)
chords=("C3 E3 G3" "A2 C3 E3" "F2 A2 C3" "G2 B2 D3")
specs=()
for j in "${!notes[@]}"; do
  read -r a b c <<< "${chords[$(( (j / 4) % 4 ))]}"
  specs+=("synth 1.0 pluck ${notes[$j]} vol 0.5 synth 1.0 sine mix $a synth 1.0 sine mix $b synth 1.0 sine mix $c vol 0.3")
done
seq_notes melody "${specs[@]}"

specs=()
for ch in "C4 E4 G4" "A3 C4 E4" "F3 A3 C4" "G3 B3 D4" "C4 E4 G4" "E3 G3 B3"; do
  read -r a b c <<< "$ch"
  specs+=("synth 2 sine $a synth 2 sine mix $b synth 2 sine mix $c tremolo 5 60 vol 0.3")
done
seq_notes tremolo "${specs[@]}"

specs=()
for n in "${ARP[@]}" "${ARP[@]}" "${ARP[@]}" "${ARP[@]}"; do specs+=("synth 0.2 pluck $n"); done
seq_notes arpeggio "${specs[@]}"

specs=()
for n in E4 D4 C4 D4 E4 E4 E4 D4 D4 D4 E4 G4 G4 E4 D4 C4 D4 E4 E4 E4 E4 D4 D4 E4 D4 C4; do
  specs+=("synth 0.45 sawtooth $n vol 0.3 synth 0.45 square mix C3 vol 0.5 fade 0.02 0.45 0.02")
done
seq_notes legato "${specs[@]}"

sox -n $WAV hat.wav synth 0.05 whitenoise vol 0.3 highpass 2500 fade 0 0.05 0.045
sox -n $WAV hat_rest.wav trim 0 0.2
sox -n $WAV kick.wav synth 0.15 sine 120-50 fade 0 0.15 0.12
sox -n $WAV kick_rest.wav trim 0 0.35
sox hat.wav hat_rest.wav hat.wav hat_rest.wav hat.wav hat_rest.wav hat.wav hat_rest.wav \
  hat.wav hat_rest.wav hat.wav hat_rest.wav hat.wav hat_rest.wav hat.wav hat_rest.wav hats.wav
sox kick.wav kick_rest.wav kick.wav kick_rest.wav kick.wav kick_rest.wav kick.wav kick_rest.wav kicks.wav
sox -n $WAV pad2.wav synth 2 sine A3 synth 2 sine mix C4 synth 2 sine mix E4 vol 0.15
sox -m hats.wav kicks.wav pad2.wav bar.wav
sox bar.wav bar.wav bar.wav bar.wav bar.wav bar.wav beat.wav
rm -f hat.wav hat_rest.wav kick.wav kick_rest.wav hats.wav kicks.wav pad2.wav bar.wav

specs=()
for r in 1 2 3; do
  for ch in "C4 E4 G4" "C4 E4 G4" "A3 C4 E4" "A3 C4 E4" "F3 A3 C4" "F3 A3 C4" "G3 B3 D4" "G3 B3 D4"; do
    read -r a b c <<< "$ch"
    specs+=("synth 0.5 pluck $a synth 0.5 pluck mix $b synth 0.5 pluck mix $c vol 0.4")
  done
done
seq_notes chords "${specs[@]}"

sox -n $WAV pad.wav synth 12 sine D3 synth 12 sine mix F3 synth 12 sine mix A3 synth 12 sine mix D4 tremolo 0.4 80 vol 0.25

specs=()
for r in 1 2 3 4 5; do
  for n in "${ARP[@]}"; do specs+=("synth 0.12 pluck $n fade 0 0.12 0.03" "trim 0 0.13"); done
done
seq_notes staccato "${specs[@]}"

specs=()
for r in 1 2 3 4 5; do
  for n in "${ARP[@]}"; do specs+=("synth 0.18 sawtooth $n synth 0.18 sine mix $n vol 0.5 fade 0.01 0.18 0.05" "trim 0 0.13"); done
done
seq_notes stabs "${specs[@]}"

for m in melody tremolo arpeggio legato beat chords pad staccato stabs; do
  phone "$m.wav" -20 "music_$m" 2>/dev/null # sox warns of a few clipped samples at -20 dBFS RMS
  rm -f "$m.wav"
done

say() { # engine voice text name
  if [ "$1" = flite ]; then flite -voice "$2" -t "$3" -o "$4.src.wav"; else espeak-ng -v "$2" -s 165 -w "$4.src.wav" "$3"; fi
  phone "$4.src.wav" -21 "$4"
  rm -f "$4.src.wav"
}
say flite slt "Hi, this is Karen with provider services, how can I help you today?" voice_0
say flite kal "Thank you for holding, my name is David, can I get the member ID please?" voice_1
say flite rms "Hello, you have reached the prior authorization department, this is Mike speaking." voice_2
say flite awb "Yes, hello, sorry about the wait. What is the patient's date of birth?" voice_3
say espeak en-us "Good afternoon, thanks for waiting. Who am I speaking with?" voice_4
say espeak en-gb "Hello? Are you still there? I have the case open now." voice_5
say flite slt "Your call is important to us. Please stay on the line and the next available representative will be with you shortly." message_0
say flite slt "hello this is karen from provider services" greeting
say espeak en-us "All of our agents are currently assisting other callers. Your estimated wait time is five minutes." message_1

line_noise 10 line.wav
sox line.wav -t raw -e signed-integer -b 16 line.raw
rm -f line.wav
