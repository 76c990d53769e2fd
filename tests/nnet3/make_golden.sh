#!/usr/bin/env bash
# make_golden.sh: reference outputs of real Kaldi for the nnet3 tests, from an nnet3 model in
# Vosk's layout (am/final.mdl, conf/mfcc.conf, ivector/) and a folder of 16 kHz wavs. Plain
# Kaldi commands, nothing of deepbrain's (not even its recipe), so the tests compare with Kaldi.
#
# Usage: make_golden.sh <model-dir> <wav-dir> <out-dir> <node> [<node> ...]
# Writes into <out-dir>:
#   feats.ark          compute-mfcc-feats --config=<model>/conf/mfcc.conf --dither=0
#   ivectors.ark       ivector-extract-online2 (Kaldi's defaults, --max-count=100 as Vosk),
#                      one speaker per utterance
#   nodes50.ark        nnet3-compute (defaults: --frames-per-chunk=50) of the network whose
#                      output is Append(<node> ...): the nodes side by side, every frame
#   nodes_whole.ark    the same with --frames-per-chunk=100000 (one chunk per utterance)
#   commands.txt       the commands, for the record
set -euo pipefail

if [ $# -lt 4 ]; then
  echo "Usage: $0 <model-dir> <wav-dir> <out-dir> <node> [<node> ...]" >&2
  exit 1
fi
: "${KALDI_ROOT:?set KALDI_ROOT to a Kaldi build}"
export PATH="$KALDI_ROOT/src/featbin:$KALDI_ROOT/src/nnet3bin:$KALDI_ROOT/src/online2bin:$KALDI_ROOT/src/bin:$PATH"
export LC_ALL=C

model=$(cd "$1" && pwd)
wavs=$(cd "$2" && pwd)
mkdir -p "$3"
out=$(cd "$3" && pwd)
shift 3
nodes=$(IFS=,; echo "$*")

cd "$out"
: > commands.txt
run() { echo "$*" >> commands.txt; "$@"; }

for w in "$wavs"/*.wav; do echo "$(basename "$w" .wav) $w"; done > wav.scp
awk '{print $1, $1}' wav.scp > spk2utt
{ cat "$model/conf/mfcc.conf"; echo "--dither=0"; } > mfcc.conf
cat > ivector.conf <<EOF
--lda-matrix=$model/ivector/final.mat
--global-cmvn-stats=$model/ivector/global_cmvn.stats
--diag-ubm=$model/ivector/final.dubm
--ivector-extractor=$model/ivector/final.ie
--cmvn-config=$model/ivector/online_cmvn.conf
--splice-config=$model/ivector/splice.conf
--ivector-period=10
--max-count=100
EOF
echo "output-node name=output input=Append($nodes) objective=linear" > extract.config

run compute-mfcc-feats --config=mfcc.conf scp:wav.scp ark:feats.ark 2> mfcc.log
run ivector-extract-online2 --config=ivector.conf ark:spk2utt ark:feats.ark ark:ivectors.ark \
  2> ivector.log
run nnet3-copy --nnet-config=extract.config "$model/am/final.mdl" extract.raw 2> copy.log
run nnet3-compute --use-gpu=no --online-ivectors=ark:ivectors.ark --online-ivector-period=10 \
  extract.raw ark:feats.ark ark:nodes50.ark 2> compute50.log
run nnet3-compute --use-gpu=no --frames-per-chunk=100000 --online-ivectors=ark:ivectors.ark \
  --online-ivector-period=10 extract.raw ark:feats.ark ark:nodes_whole.ark 2> compute_whole.log
echo "$0: done: $(wc -l < wav.scp) utterance(s) in $out" >&2
