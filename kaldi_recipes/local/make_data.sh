#!/usr/bin/env bash
# make_data.sh: wav files (or a wav.scp) -> a Kaldi data dir (wav.scp, utt2spk, spk2utt).
#
# Every utterance gets a safe id (its name with anything but [A-Za-z0-9_.-] made '_',
# made unique) and a safe path: a symlink data/wav/<id>.wav to the real file. File names
# with spaces, quotes, $(), ; are only ever passed as arguments, never to a shell.
# Each utterance is its own speaker (per-utterance CMVN, as the seed system did).
# data/utt2path keeps each id's original path.

echo "$0 $*"

scp=          # read "<id> <path>" lines from this wav.scp instead of wav arguments

help_message="Usage: $0 [--scp <wav.scp>] <data-dir> [<wav> ...]
 e.g.: $0 data/test rec1.wav 'my recording (2).wav'
       $0 --scp other/wav.scp data/test"

_recipes=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$_recipes/local/parse_options.sh" || exit 1
. "$_recipes/path.sh" || exit 1

if [ $# -lt 1 ] || { [ -n "$scp" ] && [ $# -ne 1 ]; } || { [ -z "$scp" ] && [ $# -lt 2 ]; }; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail

data=$1
shift
if [ -n "$scp" ] && [ ! -f "$scp" ]; then
  echo "$0: missing input file: $scp" >&2
  exit 1
fi
if [ -e "$data/wav.scp" ]; then
  echo "$0: $data already holds a data dir (wav.scp); remove it or choose another dir" >&2
  exit 1
fi
mkdir -p "$data/wav"
data_abs=$(cd "$data" && pwd)

declare -A taken=()
missing=()
: > "$data/wav.scp.unsorted"
: > "$data/utt2path.unsorted"
add() {  # add <name> <path>
  local name=$1 path=$2 id n=1 abs
  if [ ! -f "$path" ]; then missing+=("$path"); return 0; fi
  id=$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_')
  [ -n "$id" ] || id=utt
  local base=$id
  while [ -n "${taken[$id]:-}" ]; do n=$((n + 1)); id="$base-$n"; done
  taken[$id]=1
  abs=$(cd "$(dirname -- "$path")" && pwd)/$(basename -- "$path")
  ln -s -- "$abs" "$data/wav/$id.wav"
  printf '%s %s\n' "$id" "$data_abs/wav/$id.wav" >> "$data/wav.scp.unsorted"
  printf '%s %s\n' "$id" "$abs" >> "$data/utt2path.unsorted"
}

if [ -n "$scp" ]; then
  while read -r id path; do
    [ -n "$id" ] || continue
    case "$path" in *'|'|-) echo "$0: $scp: entry $id is a command or stdin; write it to a wav first" >&2; exit 1 ;; esac
    add "$id" "$path"
  done < "$scp"
else
  for path in "$@"; do
    name=$(basename -- "$path")
    add "${name%.*}" "$path"
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  rm -rf "$data/wav" "$data/wav.scp.unsorted" "$data/utt2path.unsorted"
  echo "$0: missing wav file(s): ${missing[*]}" >&2
  exit 1
fi

sort "$data/wav.scp.unsorted" > "$data/wav.scp"
sort "$data/utt2path.unsorted" > "$data/utt2path"
rm "$data/wav.scp.unsorted" "$data/utt2path.unsorted"
awk '{print $1, $1}' "$data/wav.scp" > "$data/utt2spk"
utt2spk_to_spk2utt.pl "$data/utt2spk" > "$data/spk2utt"
echo "$0: $(wc -l < "$data/wav.scp") utterance(s) in $data" >&2
