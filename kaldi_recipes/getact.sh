#!/usr/bin/env bash
# getact.sh: the hidden-layer activations of a Kaldi nnet1 model for a data dir, every layer
# computed once. Stages: mfcc -> cmvn -> splice -> transform -> forward (0..4, see --stage).
#
# The network is cut once (nnet-copy) into one piece per hidden layer; piece k reads layer
# k-1's ark and writes layer k's, so L layers cost one forward pass, not (L+1)/2 of them.
# The feature transform goes in front of piece 1 only; class-frame counts apply only to the
# output piece (--write-output with --output-type loglik).
#
# Front-end options come from the model dir as deepbrain's embedded engine reads them:
# <model>/conf/mfcc.conf (else conf/mfcc.conf here; dither 0 unless the file sets it),
# <model>/cmvn_opts (else means only), <model>/splice_opts (else +-3), splice and
# transform only when <model>/final.mat exists.
#
# Nothing from a path or a file reaches a shell as code. Kaldi's run.pl/queue.pl/slurm.pl
# join their arguments into a bash command line (unquoted when without spaces), so every
# command they run names only fixed, safe, relative names: the script works inside <out-dir>,
# where in/data, in/model (and in/pieces) are symlinks to the dirs given and conf/mfcc.conf is
# a copy of the MFCC config. Option files (cmvn_opts, splice_opts) are data: each word must be
# a known option with a plain value, anything else is refused by name. Options are parsed by
# local/parse_options.sh, which never evaluates a value. wav.scp entries that are commands
# (Kaldi's "... |") are refused unless --allow-pipes true.

echo "$0 $*"

nj=1
cmd=
stage=0
layers=all            # hidden layers to write: all, 1,3 or 2-5
use_gpu=no
mfcc_config=          # default: <model>/conf/mfcc.conf, else conf/mfcc.conf beside this script
write_output=false    # also write the network output as output.scp
output_type=posteriors  # posteriors, or loglik (no softmax, minus log class priors)
keep_intermediate=false # also write nnet_input.scp (the feature transform's output)
nnet_pieces=          # a dir of pieces already cut (plan, piece1.nnet ..., output.nnet)
allow_pipes=false     # accept wav.scp entries that are commands ("sox ... |")

help_message="Usage: $0 [options] <data-dir> <model-dir> <out-dir>
 e.g.: $0 --nj 2 data/test ../models/demo exp/act_test
Writes <out-dir>/layerK.scp (+ per-job arks) for each hidden layer K, and the stage outputs
feats, cmvn, cmvn_feats, spliced, transformed as <name>.scp; logs in <out-dir>/log.
Options:
  --nj <n>                 # parallel jobs (data split by speaker) (default: $nj)
  --cmd <cmd>              # run.pl, queue.pl, slurm.pl ... (default: from cmd.sh); their jobs
                           # start in <out-dir>, where this script puts path.sh and
                           # conf/queue.conf / conf/slurm.conf (from the dir it is started in,
                           # else kaldi_recipes/conf) (README.md: On a cluster)
  --stage <n>              # start from stage n: 0 mfcc, 1 cmvn, 2 splice, 3 transform, 4 forward
  --layers <list>          # hidden layers to write: all, 1,3 or 2-5 (default: $layers)
  --use-gpu <yes|no>       # for nnet-forward (default: $use_gpu)
  --mfcc-config <file>     # MFCC options (default: <model>/conf/mfcc.conf, else conf/mfcc.conf)
  --write-output <bool>    # also write the network output, output.scp (default: $write_output)
  --output-type <type>     # posteriors or loglik (default: $output_type)
  --keep-intermediate <bool> # also write nnet_input.scp (default: $keep_intermediate)
  --nnet-pieces <dir>      # use pieces cut beforehand (as this script cuts them, with a 'plan'
                           # file: num-components N, then hidden <positions>) instead of nnet-copy
  --allow-pipes <bool>     # run wav.scp entries that are commands (default: $allow_pipes)"

_recipes=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_recipes/cmd.sh"
. "$_recipes/local/parse_options.sh" || exit 1

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail

data=$1
model=$2
dir=$3

# Options first: a typo is found before any work.
die() { echo "$0: $*" >&2; exit 1; }
[[ "$nj" =~ ^[1-9][0-9]{0,3}$ ]] || die "--nj must be a whole number 1..9999, not '$nj'"
[[ "$stage" =~ ^[0-4]$ ]] || die "--stage must be 0..4 (0 mfcc, 1 cmvn, 2 splice, 3 transform, 4 forward), not '$stage'"
case "$use_gpu" in yes|no|optional|wait) ;; *) die "--use-gpu must be yes, no, optional or wait, not '$use_gpu'" ;; esac
case "$output_type" in posteriors|loglik) ;; *) die "--output-type must be posteriors or loglik, not '$output_type'" ;; esac
if [ "$layers" != all ]; then
  [[ "$layers" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || \
    die "--layers expects all, or e.g. 1,3 or 2-5, not '$layers'"
  for part in ${layers//,/ }; do
    lo=$((10#${part%-*})) hi=$((10#${part#*-}))
    [ "$lo" -ge 1 ] || die "--layers: layers are numbered from 1, not '$part'"
    [ "$lo" -le "$hi" ] || die "--layers: '$part' is an empty range (write $hi-$lo)"
    [ "$hi" -le 9999 ] || die "--layers: '$part' is beyond any network"
  done
fi
if [ -n "$mfcc_config" ] && [ ! -f "$mfcc_config" ]; then
  die "--mfcc-config $mfcc_config: no such file"
fi

. "$_recipes/path.sh" || exit 1

[ -n "$mfcc_config" ] || mfcc_config="$model/conf/mfcc.conf"
[ -f "$mfcc_config" ] || mfcc_config="$_recipes/conf/mfcc.conf"
missing=()
for f in "$data/wav.scp" "$data/utt2spk" "$data/spk2utt" "$model/final.nnet"; do
  [ -f "$f" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] || die "missing input file(s): ${missing[*]}"
if [ "$output_type" = loglik ] && $write_output && [ ! -f "$model/ali_train_pdf.counts" ]; then
  die "--output-type loglik needs $model/ali_train_pdf.counts"
fi
if ! $allow_pipes && grep -q -E '(\|[[:space:]]*$)|^[^[:space:]]+[[:space:]]+-[[:space:]]*$' "$data/wav.scp"; then
  die "$data/wav.scp: entry $(grep -m1 -E '\|[[:space:]]*$|^[^[:space:]]+[[:space:]]+-[[:space:]]*$' "$data/wav.scp" | cut -d' ' -f1 | head -c 40) is a command or stdin; write the audio to wav files (local/make_data.sh), or pass --allow-pipes true to run the commands in it"
fi

for f in segments reco2file_and_channel; do
  [ ! -f "$data/$f" ] || die "$data/$f: data dirs with segments are not supported; cut the recordings into wavs"
done

# Work inside <out-dir>, naming everything by safe relative names (see the top).
abs() { (cd "$1" && pwd); }
here=$(pwd)
model=$(abs "$model")
mfcc_config=$(abs "$(dirname -- "$mfcc_config")")/$(basename -- "$mfcc_config")
mkdir -p "$dir"
dir=$(abs "$dir")
[ -z "$nnet_pieces" ] || nnet_pieces=$(abs "$nnet_pieces")
logdir=log  # relative for run.pl: the out dir's own path never reaches its command lines
case "${cmd%% *}" in
  run.pl|*/run.pl) ;;
  *) [[ "$dir" =~ ^[A-Za-z0-9_./:=,+-]+$ ]] || \
       die "$dir: $cmd writes this path into its job scripts, where a shell would read it; use an output dir whose path has only letters, digits and _./:=,+-"
     logdir=$dir/log ;;  # checked plain: its messages and q/ dir then name the full path
esac
# The data dir is copied (it is small): relative wav paths are made absolute against the
# directory this script was started in, and split_data.sh writes into the copy, not the
# user's data dir.
rm -rf "$dir/in/data"
mkdir -p "$dir/log" "$dir/nnet" "$dir/in/data" "$dir/conf"
HERE="$here" awk '{ rx = $0; sub(/^[^ \t]+[ \t]+/, "", rx)
  if (rx !~ /^\// && rx !~ /\|[ \t]*$/) rx = ENVIRON["HERE"] "/" rx
  print $1, rx }' "$data/wav.scp" > "$dir/in/data/wav.scp"
cp -- "$data/utt2spk" "$data/spk2utt" "$dir/in/data/"
cd "$dir"
rm -f .done
trap 'echo "$0: stopped: a step failed; the logs are in $dir/log (the failed job is named above)" >&2' ERR
# queue.pl and slurm.pl start each job with `cd <out-dir>; . ./path.sh` and read their
# options from conf/<name>.conf there: the user's (in the dir this script was started in),
# else the recipes' own.
printf 'export KALDI_ROOT=%q\n. %q\n' "$KALDI_ROOT" "$_recipes/path.sh" > path.sh
for c in queue slurm; do
  for src in "$here/conf/$c.conf" "$_recipes/conf/$c.conf"; do
    if [ -f "$src" ]; then cp -- "$src" "conf/$c.conf"; break; fi
  done
done
ln -sfn "$model" in/model
cp -- "$mfcc_config" conf/mfcc.conf.tmp
grep -q -- '^ *--dither' conf/mfcc.conf.tmp || echo "--dither=0" >> conf/mfcc.conf.tmp
mv conf/mfcc.conf.tmp conf/mfcc.conf

# read_opts <file> <var> <known names...>: the words of a one-line option file, each a known
# --name=value with a plain value, into the array <var>.
read_opts() {
  local file=$1 word name
  local -n _opts=$2
  shift 2
  local -a words=()
  read -r -d '' -a words < "$file" || true
  for word in "${words[@]}"; do
    [[ "$word" =~ ^--([a-z-]+)(=[A-Za-z0-9_.:,+-]*)?$ ]] || \
      die "$model/${file#in/model/}: '$word' is not a plain --name=value option (values may hold only letters, digits and _.:,+-); the file is data, not shell"
    name=${BASH_REMATCH[1]}
    [[ " $* " == *" $name "* ]] || \
      die "$model/${file#in/model/}: unknown or unsupported option --$name; it may hold: ${*/#/--}"
  done
  _opts=("${words[@]}")
}
cmvn_opts=(--norm-means=true --norm-vars=false)
[ -f in/model/cmvn_opts ] && read_opts in/model/cmvn_opts cmvn_opts norm-means norm-vars
splice_opts=(--left-context=3 --right-context=3)
[ -f in/model/splice_opts ] && read_opts in/model/splice_opts splice_opts left-context right-context
use_lda=false
[ -f in/model/final.mat ] && use_lda=true

# The network's hidden layers: the components that are nonlinearities (1-based positions),
# found before any stage runs, so a bad --layers is found at once. Cutting reads the whole
# network once per piece, so pieces are kept in nnet/ and reused while final.nnet is
# unchanged; --nnet-pieces gives pieces cut beforehand (deepbrain's engine writes them from
# the network it has already read, byte for byte as nnet-copy would).
pieces=nnet
if [ -n "$nnet_pieces" ]; then
  ln -sfn "$nnet_pieces" in/pieces
  pieces=in/pieces
  [ -f "$pieces/plan" ] || die "$nnet_pieces/plan is missing (--nnet-pieces)"
elif [ ! -f "$pieces/plan" ] || [ in/model/final.nnet -nt "$pieces/plan" ]; then
  rm -f "$pieces"/piece*.nnet "$pieces/output.nnet" "$pieces/plan"
  nnet-info in/model/final.nnet > "$pieces/nnet-info.txt" 2> log/nnet-info.log || \
    die "nnet-info cannot read $model/final.nnet; see $dir/log/nnet-info.log"
  { awk '/^num-components/ {print "num-components", $2}' "$pieces/nnet-info.txt"
    awk '/^component [0-9]+ : <(Sigmoid|Tanh|ParametricRelu)>/ {printf " %s", $2} END {print ""}' \
      "$pieces/nnet-info.txt" | sed 's/^/hidden/'
  } > "$pieces/plan.tmp"
  mv "$pieces/plan.tmp" "$pieces/plan"
fi
num_components=$(awk '$1 == "num-components" {print $2}' "$pieces/plan")
read -r -a hidden <<< "$(awk '$1 == "hidden" {$1 = ""; print}' "$pieces/plan")"
num_hidden=${#hidden[@]}
[ "$num_hidden" -gt 0 ] || die "$model/final.nnet has no hidden layers (Sigmoid, Tanh or ParametricRelu)"

wanted=()
if [ "$layers" = all ]; then
  wanted=($(seq "$num_hidden"))
else
  for part in ${layers//,/ }; do
    lo=$((10#${part%-*})) hi=$((10#${part#*-}))
    [ "$hi" -le "$num_hidden" ] || die "layer $hi asked for, but $model/final.nnet has hidden layers 1..$num_hidden"
    wanted+=($(seq "$lo" "$hi"))
  done
  wanted=($(printf '%s\n' "${wanted[@]}" | sort -n -u))
fi
last=${wanted[-1]}
$write_output && last=$num_hidden

# Split the data by speaker (per-speaker CMVN statistics stay within one job).
sdata=in/data/split$nj
nspk=$(wc -l < in/data/spk2utt)
[ "$nj" -le "$nspk" ] || die "--nj $nj, but $data has $nspk speaker(s) (jobs split the data by speaker); use --nj $nspk or less"
ln -sfn "$KALDI_ROOT/egs/wsj/s5/utils" utils
utils/split_data.sh in/data "$nj" > log/split.log 2>&1 || \
  die "splitting $data into $nj jobs failed: $(tail -n 1 log/split.log) (log: $dir/log/split.log)"

merge() {  # merge per-job scp files into one, sorted like Kaldi tables, with absolute paths
  local name=$1 j
  for j in $(seq "$nj"); do cat "$name.$j.scp"; done | \
    DIR="$dir" awk '{ rx = $2; if (substr(rx, 1, 1) != "/") rx = ENVIRON["DIR"] "/" rx; print $1, rx }' | \
    sort > "$name.scp"
}

if [ "$stage" -le 0 ]; then
  echo "$0: stage mfcc" >&2
  $cmd JOB=1:"$nj" "$logdir/mfcc.JOB.log" \
    compute-mfcc-feats --config=conf/mfcc.conf "scp:$sdata/JOB/wav.scp" \
      ark,scp:feats.JOB.ark,feats.JOB.scp
  merge feats
fi

if [ "$stage" -le 1 ]; then
  echo "$0: stage cmvn" >&2
  $cmd JOB=1:"$nj" "$logdir/cmvn.stats.JOB.log" \
    compute-cmvn-stats "--spk2utt=ark:$sdata/JOB/spk2utt" scp:feats.JOB.scp \
      ark,scp:cmvn.JOB.ark,cmvn.JOB.scp
  $cmd JOB=1:"$nj" "$logdir/cmvn.apply.JOB.log" \
    apply-cmvn "${cmvn_opts[@]}" "--utt2spk=ark:$sdata/JOB/utt2spk" scp:cmvn.JOB.scp \
      scp:feats.JOB.scp ark,scp:cmvn_feats.JOB.ark,cmvn_feats.JOB.scp
  merge cmvn
  merge cmvn_feats
fi
feats=cmvn_feats

if $use_lda; then
  if [ "$stage" -le 2 ]; then
    echo "$0: stage splice" >&2
    $cmd JOB=1:"$nj" "$logdir/splice.JOB.log" \
      splice-feats "${splice_opts[@]}" scp:cmvn_feats.JOB.scp \
        ark,scp:spliced.JOB.ark,spliced.JOB.scp
    merge spliced
  fi
  if [ "$stage" -le 3 ]; then
    echo "$0: stage transform" >&2
    $cmd JOB=1:"$nj" "$logdir/transform.JOB.log" \
      transform-feats in/model/final.mat scp:spliced.JOB.scp \
        ark,scp:transformed.JOB.ark,transformed.JOB.scp
    merge transformed
  fi
  feats=transformed
fi

if [ "$stage" -le 4 ]; then
  echo "$0: stage forward ($num_hidden hidden layers, computing 1..$last)" >&2
  # Cut the network once: piece k = components after layer k-1's nonlinearity up to layer k's.
  prev=0
  for k in $(seq "$last"); do
    pos=${hidden[$((k - 1))]}
    [ -f "$pieces/piece$k.nnet" ] || \
      nnet-copy --remove-first-components="$prev" --remove-last-components="$((num_components - pos))" \
        in/model/final.nnet "$pieces/piece$k.nnet" 2>> log/cut.log
    prev=$pos
  done
  if $write_output && [ ! -f "$pieces/output.nnet" ]; then
    nnet-copy --remove-first-components="$prev" in/model/final.nnet "$pieces/output.nnet" \
      2>> log/cut.log
  fi
  input="scp:$feats.JOB.scp"
  ft_opt=()
  if [ -f in/model/final.feature_transform ]; then
    if $keep_intermediate; then
      $cmd JOB=1:"$nj" "$logdir/forward.input.JOB.log" \
        nnet-forward --use-gpu="$use_gpu" in/model/final.feature_transform "$input" \
          ark,scp:nnet_input.JOB.ark,nnet_input.JOB.scp
      merge nnet_input
      input=scp:nnet_input.JOB.scp
    else
      ft_opt=(--feature-transform=in/model/final.feature_transform)
    fi
  fi
  for k in $(seq "$last"); do
    $cmd JOB=1:"$nj" "$logdir/forward.layer$k.JOB.log" \
      nnet-forward --use-gpu="$use_gpu" "${ft_opt[@]}" "$pieces/piece$k.nnet" "$input" \
        "ark,scp:layer$k.JOB.ark,layer$k.JOB.scp"
    input="scp:layer$k.JOB.scp"
    ft_opt=()
  done
  if $write_output; then
    out_opts=()
    if [ "$output_type" = loglik ]; then
      out_opts=(--no-softmax=true --class-frame-counts=in/model/ali_train_pdf.counts)
    fi
    $cmd JOB=1:"$nj" "$logdir/forward.output.JOB.log" \
      nnet-forward --use-gpu="$use_gpu" "${out_opts[@]}" "$pieces/output.nnet" "$input" \
        ark,scp:output.JOB.ark,output.JOB.scp
    merge output
  fi
  for k in $(seq "$last"); do merge "layer$k"; done
fi

# Every utterance must have every requested layer.
num_utts=$(wc -l < in/data/wav.scp)
check=("${wanted[@]/#/layer}")
$write_output && check+=(output)
for name in "${check[@]}"; do
  n=$(wc -l < "$name.scp")
  if [ "$n" -ne "$num_utts" ]; then
    lost=$(awk '{print $1}' "$name.scp" | sort | comm -13 - <(awk '{print $1}' in/data/wav.scp | sort) | head -5 | tr '\n' ' ')
    die "$name has $n of $num_utts utterances (missing e.g.: $lost); see $dir/log"
  fi
done
printf '%s\n' "${wanted[@]}" > layers
touch .done
echo "$0: done: $num_utts utterance(s), layers ${wanted[*]} in $dir" >&2
