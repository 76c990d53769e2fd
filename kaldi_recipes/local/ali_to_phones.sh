#!/usr/bin/env bash
# ali_to_phones.sh: a Kaldi alignment dir -> per-frame phone ids (an int-vector ark), as
# deepbrain build-map reads them. Needs <ali-dir>/final.mdl and <ali-dir>/ali.*.gz.

echo "$0 $*"

help_message="Usage: $0 <ali-dir> <out-ark>
 e.g.: $0 exp/tri3_ali exp/maps/phones.ark"

_recipes=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$_recipes/local/parse_options.sh" || exit 1
. "$_recipes/path.sh" || exit 1

if [ $# -ne 2 ]; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail

ali=$1
out=$2
# Absolute, so that Kaldi never reads "ark:$out" as an output pipe ("ark:| command").
case "$out" in /*) ;; *) out=$(pwd)/$out ;; esac
missing=()
[ -f "$ali/final.mdl" ] || missing+=("$ali/final.mdl")
compgen -G "$ali/ali.*.gz" > /dev/null || missing+=("$ali/ali.*.gz")
if [ ${#missing[@]} -gt 0 ]; then
  echo "$0: missing input file(s): ${missing[*]}" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
# One stream of every job's alignments; written to a file, never read through a pipe by Python.
gunzip -c "$ali"/ali.*.gz | ali-to-phones --per-frame=true "$ali/final.mdl" ark:- "ark:$out.tmp"
mv "$out.tmp" "$out"
echo "$0: $(copy-int-vector "ark:$out" ark,t:- 2>/dev/null | wc -l) utterances in $out" >&2
