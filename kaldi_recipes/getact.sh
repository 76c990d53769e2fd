#!/usr/bin/env bash
# getact.sh: the hidden-layer activations of a Kaldi nnet1 model for a data dir, every layer
# computed once. Stages (--stage N starts at N): 0 features (mfcc or fbank, pitch pasted on),
# 1 cmvn (apply-cmvn-online or apply-cmvn), 2 deltas, 3 splice, 4 transform, 5 forward.
#
# The front end is built from the model dir as deepbrain's frontend.py builds it, and as
# steps/nnet/decode.sh does for a steps/nnet dir (one with final.mdl):
#   features  conf/fbank.conf -> compute-fbank-feats, conf/mfcc.conf -> compute-mfcc-feats
#             (required in a steps dir; the original demo's layout without either gets
#             conf/mfcc.conf beside this script); dither 0 unless the config sets it;
#             conf/pitch.conf -> compute-kaldi-pitch-feats | process-kaldi-pitch-feats
#             (conf/pitch_process.conf) pasted on (paste-feats --length-tolerance=2), as
#             steps/make_mfcc_pitch.sh does;
#   cmvn      online_cmvn_opts -> apply-cmvn-online with global_cmvn_stats.mat and --spk2utt;
#             else cmvn_opts -> compute-cmvn-stats --spk2utt + apply-cmvn --utt2spk (in the
#             demo's layout also without cmvn_opts: means only); statistics per speaker of the
#             data dir;
#   deltas    delta_opts -> add-deltas;
#   splice    final.mat -> splice-feats (splice_opts, else +-3 in the demo's layout, +-4 in
#   transform a steps dir) and transform-feats final.mat;
#   forward   final.feature_transform and final.nnet, cut into per-layer pieces.
# --print-frontend true prints that chain, one stage a line, and exits (no Kaldi needed).
#
# The pitch's delta-pitch noise comes from one process-kaldi-pitch-feats run over the whole
# data dir in the order of its sorted wav.scp (not one run per job), so results do not depend
# on --nj, and equal deepbrain's numpy engine, which continues the noise in the same order.
#
# The network is cut once (nnet-copy) into one piece per hidden layer; piece k reads layer
# k-1's ark and writes layer k's, so L layers cost one forward pass, not (L+1)/2 of them.
# The feature transform goes in front of piece 1 only; class-frame counts apply only to the
# output piece (--write-output with --output-type loglik).
#
# --chunk-frames N runs the pieces on N frames of an utterance at a time: the feature
# transform (whose splice needs each frame's neighbours) runs on whole utterances into
# nnet_input.scp, and the pieces read its rows in ranges (Kaldi's "ark:offset[a:b]"), so
# layerK.scp and output.scp hold <utt>-c<first frame> entries (c0000000, c0000300, ...)
# whose rows, in order, are the utterance's. A network after its feature transform treats
# each frame alone, so the numbers are the same to float32 rounding (BLAS may sum a row's
# products in another order for another number of rows; tests/engines/test_kaldi_engine.py);
# each nnet-forward then holds N frames, not a whole utterance: an hour-long recording fits
# in memory, and where first touching memory is dear the chain runs faster (deepbrain's
# engine uses 300: README.md, make bench).
#
# Nothing from a path or a file reaches a shell as code. Kaldi's run.pl/queue.pl/slurm.pl
# join their arguments into a bash command line (unquoted when without spaces), so every
# command they run names only fixed, safe, relative names: the script works inside <out-dir>,
# where in/data, in/model (and in/pieces) are symlinks to the dirs given and conf/*.conf are
# the model's configs, rewritten from their checked words. Option files are data: each word
# must be a known option with a plain value of its type, anything else is refused by name; a
# FIFO or folder where an option file should be is refused. Options are parsed by
# local/parse_options.sh, which never evaluates a value. wav.scp entries that are commands
# (Kaldi's "... |") are refused unless --allow-pipes true.

echo "$0 $*" >&2  # the command line, for the log (stdout is --print-frontend's)

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
print_frontend=false  # print the front end, one stage a line, and exit
chunk_frames=0        # the network on pieces of N frames of each utterance (0: whole)

help_message="Usage: $0 [options] <data-dir> <model-dir> <out-dir>
       $0 --print-frontend true <model-dir>
 e.g.: $0 --nj 2 data/test ../models/demo exp/act_test
Writes <out-dir>/layerK.scp (+ per-job arks) for each hidden layer K, and the stage outputs
feats, cmvn, cmvn_feats, deltas, spliced, transformed (those the front end has) as
<name>.scp; logs in <out-dir>/log.
Options:
  --nj <n>                 # parallel jobs (data split by speaker) (default: $nj)
  --cmd <cmd>              # run.pl, queue.pl, slurm.pl ... (default: from cmd.sh); their jobs
                           # start in <out-dir>, where this script puts path.sh and
                           # conf/queue.conf / conf/slurm.conf (from the dir it is started in,
                           # else kaldi_recipes/conf) (README.md: On a cluster)
  --stage <n>              # start from stage n: 0 features, 1 cmvn, 2 deltas, 3 splice,
                           # 4 transform, 5 forward
  --layers <list>          # hidden layers to write: all, 1,3 or 2-5 (default: $layers)
  --use-gpu <yes|no>       # for nnet-forward (default: $use_gpu)
  --mfcc-config <file>     # MFCC options instead of <model>/conf/mfcc.conf (MFCC models)
  --write-output <bool>    # also write the network output, output.scp (default: $write_output)
  --output-type <type>     # posteriors or loglik (default: $output_type)
  --keep-intermediate <bool> # also write nnet_input.scp (default: $keep_intermediate)
  --nnet-pieces <dir>      # use pieces cut beforehand (as this script cuts them, with a 'plan'
                           # file: num-components N, then hidden <positions>) instead of nnet-copy
  --allow-pipes <bool>     # run wav.scp entries that are commands (default: $allow_pipes)
  --chunk-frames <n>       # run the network on pieces of n frames of each utterance, keyed
                           # <utt>-c<first frame, 7 digits> in layerK.scp and output.scp
                           # (default: $chunk_frames, whole utterances; see below)
  --print-frontend <bool>  # print the front end the model asks for and exit (default: $print_frontend)"

_recipes=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_recipes/cmd.sh"
. "$_recipes/local/parse_options.sh" || exit 1
. "$_recipes/local/cluster.sh"

if ! { [ $# -eq 3 ] || { $print_frontend && [ $# -eq 1 ]; }; }; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail
export LC_ALL=C

if [ $# -eq 1 ]; then data= model=$1 dir=; else data=$1 model=$2 dir=$3; fi

# Options first: a typo is found before any work.
die() { echo "$0: $*" >&2; exit 1; }
[[ "$nj" =~ ^[1-9][0-9]{0,3}$ ]] || die "--nj must be a whole number 1..9999, not '$nj'"
[[ "$chunk_frames" =~ ^[0-9]{1,7}$ ]] || die "--chunk-frames must be a whole number 0..9999999 (0: whole utterances), not '$chunk_frames'"
chunk_frames=$((10#$chunk_frames))
[[ "$stage" =~ ^[0-5]$ ]] || die "--stage must be 0..5 (0 features, 1 cmvn, 2 deltas, 3 splice, 4 transform, 5 forward), not '$stage'"
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
if ! $print_frontend; then
  missing=()
  for f in "$data/wav.scp" "$data/utt2spk" "$data/spk2utt" "$model/final.nnet"; do
    [ -f "$f" ] || missing+=("$f")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing input file(s): ${missing[*]}"
fi
[ -d "$model" ] || die "$model: not a directory (the model dir)"

# -- the front end: option files as data ---------------------------------------------------
# Known options of each Kaldi program and their types (b bool, i int, f real, s plain word):
# what deepbrain's options.py and pitch.py read (tests/test_frontend.py holds them together).
framed_known="sample-frequency:f frame-length:f frame-shift:f dither:f preemphasis-coefficient:f
  remove-dc-offset:b window-type:s round-to-power-of-two:b blackman-coeff:f snip-edges:b
  num-mel-bins:i low-freq:f high-freq:f vtln-low:f vtln-high:f use-energy:b energy-floor:f
  raw-energy:b htk-compat:b subtract-mean:b vtln-warp:f"
mfcc_known="$framed_known num-ceps:i cepstral-lifter:f"
fbank_known="$framed_known use-log-fbank:b use-power:b"
pitch_known="sample-frequency:f frame-shift:f frame-length:f preemphasis-coefficient:f min-f0:f
  max-f0:f soft-min-f0:f penalty-factor:f lowpass-cutoff:f resample-frequency:f delta-pitch:f
  nccf-ballast:f lowpass-filter-width:i upsample-filter-width:i max-frames-latency:i
  frames-per-chunk:i simulate-first-pass-online:b recompute-frame:i nccf-ballast-online:b
  snip-edges:b"
pitch_process_known="pitch-scale:f pov-scale:f pov-offset:f delta-pitch-scale:f
  delta-pitch-noise-stddev:f normalization-left-context:i normalization-right-context:i
  delta-window:i delay:i add-pov-feature:b add-normalized-log-pitch:b add-delta-pitch:b
  add-raw-log-pitch:b srand:i"
cmvn_known="norm-means:b norm-vars:b"
online_cmvn_known="cmn-window:i speaker-frames:i global-frames:i norm-means:b norm-vars:b skip-dims:s"
delta_known="delta-order:i delta-window:i"
splice_known="left-context:i right-context:i"

# has <file>: 0 if a regular file is there, 1 if nothing is; anything else there (a FIFO, a
# folder, a device) is refused, never taken for an absent file.
has() {
  [ -e "$1" ] || return 1
  [ -f "$1" ] || die "$1: is not a regular file (a FIFO, folder or device); replace it with a plain text file or remove it"
  return 0
}

# read_options <file> <conf|opts> <var> <known name:type list> [name=value ...]: the words of
# an option file (a config file: '#' starts a comment), each a known --name=value with a plain
# value of its type, in canonical form into the array <var>: names with '-', booleans
# true/false, other values as written, the last of repeated options, the name=value defaults
# given where the file does not set them, sorted by name. Exactly options.canonical_args.
read_options() {
  local file=$1 kind=$2 known=$3 word name value eq type line size
  local -n _out=$4
  shift 4
  local -a more
  size=$(wc -c < "$file")
  [ "$size" -le 65536 ] || die "$file: $size bytes is not an option file (at most 65536); replace it with the options the model was trained with"
  local -a words=()
  if [ "$kind" = conf ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}
      read -r -a more <<< "$line" || true
      words+=("${more[@]}")
    done < "$file"
  else
    read -r -d '' -a words < "$file" || true
  fi
  local -A last=()
  for word in "${words[@]}"; do
    [[ "$word" == --* ]] || die "$file: expected --name=value options, found '${word:0:60}'"
    [[ "$word" =~ ^--([a-z][a-z0-9_-]*)(=([A-Za-z0-9_.:,+-]*))?$ ]] || \
      die "$file: '${word:0:60}' is not a plain --name=value option (values may hold only letters, digits and _.:,+-); the file is data, not shell"
    name=${BASH_REMATCH[1]//_/-}
    eq=${BASH_REMATCH[2]:+=}
    value=${BASH_REMATCH[3]}
    type=$(printf '%s\n' $known | awk -F: -v n="$name" '$1 == n {print $2}')
    [ -n "$type" ] || \
      die "$file: unknown or unsupported option --$name; it may hold: $(printf -- '--%s ' $(printf '%s\n' $known | cut -d: -f1))"
    case "$type" in
      b) case "${value,,}" in
           true|t|1|"") value=true ;;
           false|f|0) value=false ;;
           *) die "$file: --$name expects true or false, found '$value'" ;;
         esac
         word="--$name=$value" ;;
      i) [[ "$value" =~ ^[+-]?[0-9]+$ ]] || die "$file: --$name=$value is not a valid int" ;;
      f) [[ "$value" =~ ^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$ ]] || \
           die "$file: --$name=$value is not a valid float (a number as Kaldi writes one)" ;;
    esac
    [ "$type" = b ] || word="--$name$eq$value"
    last[$name]=$word
  done
  local default
  for default in "$@"; do
    [ -n "${last[${default%%=*}]+set}" ] || last[${default%%=*}]="--$default"
  done
  _out=()
  if [ ${#last[@]} -gt 0 ]; then
    mapfile -t _out < <(for name in "${!last[@]}"; do printf '%s\n' "$name"; done | sort | \
                        while IFS= read -r name; do printf '%s\n' "${last[$name]}"; done)
  fi
}
# option <array name> <option name> <default>: an option's value in canonical words.
option() {
  local -n _words=$1
  local w value=$3
  for w in "${_words[@]}"; do [[ "$w" == "--$2="* ]] && value=${w#*=}; done
  printf '%s\n' "$value"
}

kaldi_dir=false
[ -f "$model/final.mdl" ] && kaldi_dir=true

# features: conf/fbank.conf or conf/mfcc.conf (or --mfcc-config, or the demo's default)
has_mfcc=false has_fbank=false
has "$model/conf/mfcc.conf" && has_mfcc=true
has "$model/conf/fbank.conf" && has_fbank=true
$has_mfcc && $has_fbank && die "$model/conf: has both mfcc.conf and fbank.conf; keep the one the model was trained with"
if $has_fbank; then
  [ -z "$mfcc_config" ] || die "--mfcc-config given, but $model uses conf/fbank.conf"
  feat_type=fbank
  read_options "$model/conf/fbank.conf" conf "$fbank_known" feat_opts dither=0
elif [ -n "$mfcc_config" ] || $has_mfcc || ! $kaldi_dir; then
  feat_type=mfcc
  [ -n "$mfcc_config" ] || { $has_mfcc && mfcc_config=$model/conf/mfcc.conf; } || \
    mfcc_config=$_recipes/conf/mfcc.conf
  read_options "$mfcc_config" conf "$mfcc_known" feat_opts dither=0
else
  die "$model/conf: has no mfcc.conf or fbank.conf; copy the feature config the model was trained with (the recipe's conf/mfcc.conf or conf/fbank.conf) into it"
fi
frontend=("$(printf '%-12s%s' "$feat_type" "compute-$feat_type-feats ${feat_opts[*]}")")

# pitch: conf/pitch.conf (+ conf/pitch_process.conf)
use_pitch=false
pitch_opts=() pitch_process_opts=()
if has "$model/conf/pitch.conf"; then
  use_pitch=true
  read_options "$model/conf/pitch.conf" conf "$pitch_known" pitch_opts
  if has "$model/conf/pitch_process.conf"; then
    read_options "$model/conf/pitch_process.conf" conf "$pitch_process_known" pitch_process_opts
  fi
  line="compute-kaldi-pitch-feats ${pitch_opts[*]} | process-kaldi-pitch-feats ${pitch_process_opts[*]} | paste-feats --length-tolerance=2"
  frontend+=("$(printf '%-12s%s' pitch "$(tr -s ' ' <<< "$line")")")
elif has "$model/conf/pitch_process.conf"; then
  die "$model/conf/pitch_process.conf: present but there is no conf/pitch.conf; a model with pitch has both (make_mfcc_pitch.sh's --pitch-config)"
fi

# cmvn: online_cmvn_opts (+ global_cmvn_stats.mat), or cmvn_opts
cmvn_type=none
if has "$model/online_cmvn_opts"; then
  cmvn_type=online
  has "$model/cmvn_opts" && die "$model: has both cmvn_opts and online_cmvn_opts; Kaldi's steps/nnet uses one or the other"
  read_options "$model/online_cmvn_opts" opts "$online_cmvn_known" cmvn_opts
  has "$model/global_cmvn_stats.mat" || die "$model/global_cmvn_stats.mat: missing (online_cmvn_opts asks for apply-cmvn-online, which starts from these global statistics)"
  frontend+=("$(printf '%-12s%s' online-cmvn "apply-cmvn-online ${cmvn_opts[*]} global_cmvn_stats.mat")")
elif has "$model/cmvn_opts" || ! $kaldi_dir; then
  cmvn_opts=(--norm-means=true --norm-vars=false)
  [ ! -f "$model/cmvn_opts" ] || read_options "$model/cmvn_opts" opts "$cmvn_known" cmvn_opts
  if [ "$(option cmvn_opts norm-means true)" = true ]; then
    cmvn_type=offline
    frontend+=("$(printf '%-12s%s' cmvn "apply-cmvn ${cmvn_opts[*]}")")
  fi
fi

# deltas: delta_opts
use_deltas=false
if has "$model/delta_opts"; then
  use_deltas=true
  read_options "$model/delta_opts" opts "$delta_known" delta_opts
  frontend+=("$(printf '%-12s%s' deltas "add-deltas ${delta_opts[*]}")")
fi

# splice + transform: final.mat (splice_opts)
use_lda=false
if has "$model/final.mat"; then
  use_lda=true
  if has "$model/splice_opts"; then
    read_options "$model/splice_opts" opts "$splice_known" splice_opts left-context=4 right-context=4
  elif $kaldi_dir; then
    splice_opts=(--left-context=4 --right-context=4)
  else
    splice_opts=(--left-context=3 --right-context=3)
  fi
  frontend+=("$(printf '%-12s%s' splice "splice-feats ${splice_opts[*]}")")
  frontend+=("$(printf '%-12s%s' transform "transform-feats final.mat")")
elif has "$model/splice_opts"; then
  die "$model/splice_opts: present but there is no final.mat to apply after splicing"
fi

if $print_frontend; then
  printf '%s\n' "${frontend[@]}" | sed 's/ *$//'
  exit 0
fi

# -- inputs ----------------------------------------------------------------------------------
. "$_recipes/path.sh" || exit 1

# Class-frame counts as steps/nnet/decode.sh picks them: prior_counts first.
counts=ali_train_pdf.counts
[ ! -f "$model/prior_counts" ] || counts=prior_counts
if [ "$output_type" = loglik ] && $write_output && [ ! -f "$model/$counts" ]; then
  die "--output-type loglik needs $model/prior_counts or $model/ali_train_pdf.counts"
fi
if [ "$cmvn_type" = online ] && ! command -v apply-cmvn-online > /dev/null; then
  die "$model/online_cmvn_opts asks for apply-cmvn-online, which is not in $KALDI_ROOT/src/online2bin; build it (make -C src online2bin)"
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
mkdir -p "$dir"
dir=$(abs "$dir")
[ -z "$nnet_pieces" ] || nnet_pieces=$(abs "$nnet_pieces")
logdir=$(cluster_logdir "$dir") || exit 1
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
write_cluster_files "$here" "$_recipes"
ln -sfn "$model" in/model
# The configs Kaldi reads: the words checked above, one a line (nothing else of the file).
printf '%s\n' "${feat_opts[@]}" > "conf/$feat_type.conf"
if $use_pitch; then
  printf '%s\n' "${pitch_opts[@]}" > conf/pitch.conf
  printf '%s\n' "${pitch_process_opts[@]}" > conf/pitch_process.conf
fi

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
num_utts=$(wc -l < in/data/wav.scp)

merge() {  # merge per-job scp files into one, sorted like Kaldi tables, with absolute paths
  local name=$1 j
  for j in $(seq "$nj"); do cat "$name.$j.scp"; done | \
    DIR="$dir" awk '{ rx = $2; if (substr(rx, 1, 1) != "/") rx = ENVIRON["DIR"] "/" rx; print $1, rx }' | \
    sort > "$name.scp"
}
utts_in() {  # the utterances of a table (the chunked ones' <utt>-cNNNNNNN entries once each)
  if [ "$2" = chunked ]; then
    awk '{ sub(/-c[0-9][0-9][0-9][0-9][0-9][0-9][0-9]$/, "", $1); print $1 }' "$1.scp" | sort -u
  else
    awk '{print $1}' "$1.scp"
  fi
}
complete() {  # complete <table> <logs> [chunked]: every utterance is in <table>.scp (Kaldi skips failures)
  local n lost
  n=$(utts_in "$1" "${3:-}" | wc -l)
  if [ "$n" -ne "$num_utts" ]; then
    lost=$(utts_in "$1" "${3:-}" | sort | comm -13 - <(awk '{print $1}' in/data/wav.scp | sort) | head -5 | tr '\n' ' ')
    die "$1 has $n of $num_utts utterances (missing e.g.: $lost); see $dir/log/$2"
  fi
}

# -- stage 0: features (mfcc or fbank, pitch pasted on) ----------------------------------------
if [ "$stage" -le 0 ]; then
  echo "$0: stage $feat_type" >&2
  table=feats
  $use_pitch && table=$feat_type
  $cmd JOB=1:"$nj" "$logdir/$feat_type.JOB.log" \
    "compute-$feat_type-feats" "--config=conf/$feat_type.conf" "scp:$sdata/JOB/wav.scp" \
      "ark,scp:$table.JOB.ark,$table.JOB.scp"
  merge "$table"
  complete "$table" "$feat_type.*.log"
  if $use_pitch; then
    echo "$0: stage pitch" >&2
    $cmd JOB=1:"$nj" "$logdir/pitch.JOB.log" \
      compute-kaldi-pitch-feats --config=conf/pitch.conf "scp:$sdata/JOB/wav.scp" \
        ark,scp:pitch_raw.JOB.ark,pitch_raw.JOB.scp
    # One process-kaldi-pitch-feats over all utterances in sorted order (see the top).
    for j in $(seq "$nj"); do cat "pitch_raw.$j.scp"; done | sort > pitch_raw.all.scp
    $cmd JOB=1:1 "$logdir/pitch.process.JOB.log" \
      process-kaldi-pitch-feats --config=conf/pitch_process.conf scp:pitch_raw.all.scp \
        ark,scp:pitch.JOB.ark,pitch.all.scp
    for j in $(seq "$nj"); do
      awk 'NR == FNR {utt[$1]; next} $1 in utt' "$sdata/$j/utt2spk" pitch.all.scp > "pitch.$j.scp"
    done
    $cmd JOB=1:"$nj" "$logdir/pitch.paste.JOB.log" \
      paste-feats --length-tolerance=2 "scp:$feat_type.JOB.scp" scp:pitch.JOB.scp \
        ark,scp:feats.JOB.ark,feats.JOB.scp
    merge feats
    complete feats "pitch.*.log"
  fi
fi
feats=feats

# -- stage 1: cmvn (apply-cmvn-online, or compute-cmvn-stats + apply-cmvn) ---------------------
if [ "$cmvn_type" = online ]; then
  if [ "$stage" -le 1 ]; then
    echo "$0: stage online-cmvn" >&2
    $cmd JOB=1:"$nj" "$logdir/online-cmvn.JOB.log" \
      apply-cmvn-online "${cmvn_opts[@]}" "--spk2utt=ark:$sdata/JOB/spk2utt" \
        in/model/global_cmvn_stats.mat scp:feats.JOB.scp \
        ark,scp:cmvn_feats.JOB.ark,cmvn_feats.JOB.scp
    merge cmvn_feats
    complete cmvn_feats "online-cmvn.*.log"
  fi
  feats=cmvn_feats
elif [ "$cmvn_type" = offline ]; then
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
    complete cmvn_feats "cmvn.*.log"
  fi
  feats=cmvn_feats
fi

# -- stage 2: deltas (add-deltas) ---------------------------------------------------------
if $use_deltas; then
  if [ "$stage" -le 2 ]; then
    echo "$0: stage deltas" >&2
    $cmd JOB=1:"$nj" "$logdir/deltas.JOB.log" \
      add-deltas "${delta_opts[@]}" "scp:$feats.JOB.scp" ark,scp:deltas.JOB.ark,deltas.JOB.scp
    merge deltas
    complete deltas "deltas.*.log"
  fi
  feats=deltas
fi

# -- stages 3, 4: splice (splice-feats), transform (transform-feats final.mat) -----------------
if $use_lda; then
  if [ "$stage" -le 3 ]; then
    echo "$0: stage splice" >&2
    $cmd JOB=1:"$nj" "$logdir/splice.JOB.log" \
      splice-feats "${splice_opts[@]}" "scp:$feats.JOB.scp" \
        ark,scp:spliced.JOB.ark,spliced.JOB.scp
    merge spliced
  fi
  if [ "$stage" -le 4 ]; then
    echo "$0: stage transform" >&2
    $cmd JOB=1:"$nj" "$logdir/transform.JOB.log" \
      transform-feats in/model/final.mat scp:spliced.JOB.scp \
        ark,scp:transformed.JOB.ark,transformed.JOB.scp
    merge transformed
  fi
  feats=transformed
fi

# -- stage 5: forward (the feature transform and the network, a piece per layer) ------------
if [ "$stage" -le 5 ]; then
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
  input_table=$feats
  ft_opt=()
  if [ -f in/model/final.feature_transform ]; then
    if $keep_intermediate || [ "$chunk_frames" -gt 0 ]; then
      $cmd JOB=1:"$nj" "$logdir/forward.input.JOB.log" \
        nnet-forward --use-gpu="$use_gpu" in/model/final.feature_transform "$input" \
          ark,scp:nnet_input.JOB.ark,nnet_input.JOB.scp
      merge nnet_input
      input=scp:nnet_input.JOB.scp
      input_table=nnet_input
    else
      ft_opt=(--feature-transform=in/model/final.feature_transform)
    fi
  fi
  if [ "$chunk_frames" -gt 0 ]; then
    # Each utterance's rows in ranges of chunk_frames, as an scp of row ranges (no copy).
    $cmd JOB=1:"$nj" "$logdir/forward.chunks.JOB.log" \
      feat-to-len "scp:$input_table.JOB.scp" ark,t:chunks.JOB.len
    for j in $(seq "$nj"); do
      awk -v n="$chunk_frames" 'NR == FNR { len[$1] = $2; next }
        { for (a = 0; a < len[$1]; a += n) {
            b = a + n - 1; if (b >= len[$1]) b = len[$1] - 1
            printf "%s-c%07d %s[%d:%d]\n", $1, a, $2, a, b } }' \
        "chunks.$j.len" "$input_table.$j.scp" > "chunks.$j.scp"
    done
    input=scp:chunks.JOB.scp
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
      out_opts=(--no-softmax=true "--class-frame-counts=in/model/$counts")
    fi
    $cmd JOB=1:"$nj" "$logdir/forward.output.JOB.log" \
      nnet-forward --use-gpu="$use_gpu" "${out_opts[@]}" "$pieces/output.nnet" "$input" \
        ark,scp:output.JOB.ark,output.JOB.scp
    merge output
  fi
  for k in $(seq "$last"); do merge "layer$k"; done
fi

# Every utterance must have every requested layer.
check=("${wanted[@]/#/layer}")
$write_output && check+=(output)
chunked= pieces_wanted=0
if [ "$chunk_frames" -gt 0 ]; then
  chunked=chunked
  pieces_wanted=$(for j in $(seq "$nj"); do cat "chunks.$j.scp"; done | wc -l)
fi
for name in "${check[@]}"; do
  complete "$name" "" $chunked
  if [ -n "$chunked" ]; then  # and every piece of each
    n=$(wc -l < "$name.scp")
    [ "$n" -eq "$pieces_wanted" ] || die "$name has $n of $pieces_wanted chunks; see $dir/log"
  fi
done
printf '%s\n' "${wanted[@]}" > layers
touch .done
echo "$0: done: $num_utts utterance(s), layers ${wanted[*]} in $dir" >&2
