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

help_message="Usage: $0 [options] <data-dir> <model-dir> <out-dir>
 e.g.: $0 --nj 2 data/test ../models/demo exp/act_test
Writes <out-dir>/layerK.scp (+ per-job arks) for each hidden layer K, and the stage outputs
feats, cmvn, cmvn_feats, spliced, transformed as <name>.scp; logs in <out-dir>/log.
Options:
  --nj <n>                 # parallel jobs (data split by speaker) (default: $nj)
  --cmd <cmd>              # run.pl, queue.pl, slurm.pl ... (default: from cmd.sh); queue.pl and
                           # slurm.pl read conf/<name>.conf and ./path.sh in the current dir:
                           # run from kaldi_recipes/ (README.md: On a cluster)
  --stage <n>              # start from stage n: 0 mfcc, 1 cmvn, 2 splice, 3 transform, 4 forward
  --layers <list>          # hidden layers to write: all, 1,3 or 2-5 (default: $layers)
  --use-gpu <yes|no>       # for nnet-forward (default: $use_gpu)
  --mfcc-config <file>     # MFCC options (default: <model>/conf/mfcc.conf, else conf/mfcc.conf)
  --write-output <bool>    # also write the network output, output.scp (default: $write_output)
  --output-type <type>     # posteriors or loglik (default: $output_type)
  --keep-intermediate <bool> # also write nnet_input.scp (default: $keep_intermediate)
  --nnet-pieces <dir>      # use pieces cut beforehand (as this script cuts them, with a 'plan'
                           # file: num-components N, then hidden <positions>) instead of nnet-copy"

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$recipe_dir/path.sh" || exit 1
. "$recipe_dir/cmd.sh"
. parse_options.sh || exit 1

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail

data=$1
model=$2
dir=$3

[ -n "$mfcc_config" ] || mfcc_config="$model/conf/mfcc.conf"
[ -f "$mfcc_config" ] || mfcc_config="$recipe_dir/conf/mfcc.conf"

missing=()
for f in "$data/wav.scp" "$data/utt2spk" "$data/spk2utt" "$model/final.nnet" "$mfcc_config"; do
  [ -f "$f" ] || missing+=("$f")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "$0: missing input file(s): ${missing[*]}" >&2
  exit 1
fi
case "$output_type" in posteriors|loglik) ;; *)
  echo "$0: --output-type must be posteriors or loglik, not '$output_type'" >&2; exit 1 ;;
esac
if [ "$output_type" = loglik ] && $write_output && [ ! -f "$model/ali_train_pdf.counts" ]; then
  echo "$0: --output-type loglik needs $model/ali_train_pdf.counts" >&2
  exit 1
fi

data=$(cd "$data" && pwd)
model=$(cd "$model" && pwd)
mkdir -p "$dir/log" "$dir/nnet"
dir=$(cd "$dir" && pwd)
rm -f "$dir/.done"

dither_opt=()
grep -q -- '^ *--dither' "$mfcc_config" || dither_opt=(--dither=0)
cmvn_opts="--norm-means=true --norm-vars=false"
[ -f "$model/cmvn_opts" ] && cmvn_opts=$(cat "$model/cmvn_opts")
splice_opts="--left-context=3 --right-context=3"
[ -f "$model/splice_opts" ] && splice_opts=$(cat "$model/splice_opts")
use_lda=false
[ -f "$model/final.mat" ] && use_lda=true

# Split the data by speaker (per-speaker CMVN statistics stay within one job).
sdata="$data/split$nj"
if [ ! -d "$sdata/$nj" ] || [ "$data/wav.scp" -nt "$sdata/$nj/wav.scp" ]; then
  ( cd "$dir" && ln -sfn "$KALDI_ROOT/egs/wsj/s5/utils" utils && utils/split_data.sh "$data" "$nj" ) \
    > "$dir/log/split.log" 2>&1 || { echo "$0: splitting $data failed, see $dir/log/split.log" >&2; exit 1; }
fi

merge() {  # merge per-job scp files into one, sorted like Kaldi tables
  local name=$1
  for j in $(seq "$nj"); do cat "$dir/$name.$j.scp"; done | sort > "$dir/$name.scp"
}

if [ "$stage" -le 0 ]; then
  echo "$0: stage mfcc" >&2
  $cmd JOB=1:"$nj" "$dir/log/mfcc.JOB.log" \
    compute-mfcc-feats --config="$mfcc_config" "${dither_opt[@]}" "scp:$sdata/JOB/wav.scp" \
      "ark,scp:$dir/feats.JOB.ark,$dir/feats.JOB.scp"
  merge feats
fi

if [ "$stage" -le 1 ]; then
  echo "$0: stage cmvn" >&2
  $cmd JOB=1:"$nj" "$dir/log/cmvn.stats.JOB.log" \
    compute-cmvn-stats --spk2utt="ark:$sdata/JOB/spk2utt" "scp:$dir/feats.JOB.scp" \
      "ark,scp:$dir/cmvn.JOB.ark,$dir/cmvn.JOB.scp"
  # shellcheck disable=SC2086  # cmvn_opts is a list of options
  $cmd JOB=1:"$nj" "$dir/log/cmvn.apply.JOB.log" \
    apply-cmvn $cmvn_opts --utt2spk="ark:$sdata/JOB/utt2spk" "scp:$dir/cmvn.JOB.scp" \
      "scp:$dir/feats.JOB.scp" "ark,scp:$dir/cmvn_feats.JOB.ark,$dir/cmvn_feats.JOB.scp"
  merge cmvn
  merge cmvn_feats
fi
feats=cmvn_feats

if $use_lda; then
  if [ "$stage" -le 2 ]; then
    echo "$0: stage splice" >&2
    # shellcheck disable=SC2086
    $cmd JOB=1:"$nj" "$dir/log/splice.JOB.log" \
      splice-feats $splice_opts "scp:$dir/cmvn_feats.JOB.scp" \
        "ark,scp:$dir/spliced.JOB.ark,$dir/spliced.JOB.scp"
    merge spliced
  fi
  if [ "$stage" -le 3 ]; then
    echo "$0: stage transform" >&2
    $cmd JOB=1:"$nj" "$dir/log/transform.JOB.log" \
      transform-feats "$model/final.mat" "scp:$dir/spliced.JOB.scp" \
        "ark,scp:$dir/transformed.JOB.ark,$dir/transformed.JOB.scp"
    merge transformed
  fi
  feats=transformed
fi

# The network's hidden layers: the components that are nonlinearities (1-based positions).
# Cutting reads the whole network once per piece, so pieces are kept in $dir/nnet and reused
# while final.nnet is unchanged; --nnet-pieces gives pieces cut beforehand (deepbrain's
# engine writes them from the network it has already read, byte for byte as nnet-copy would).
pieces="$dir/nnet"
if [ -n "$nnet_pieces" ]; then
  pieces=$(cd "$nnet_pieces" && pwd)
  [ -f "$pieces/plan" ] || { echo "$0: $pieces/plan is missing (--nnet-pieces)" >&2; exit 1; }
elif [ ! -f "$pieces/plan" ] || [ "$model/final.nnet" -nt "$pieces/plan" ]; then
  rm -f "$pieces"/piece*.nnet "$pieces/output.nnet" "$pieces/plan"
  nnet-info "$model/final.nnet" > "$pieces/nnet-info.txt" 2> "$dir/log/nnet-info.log"
  { awk '/^num-components/ {print "num-components", $2}' "$pieces/nnet-info.txt"
    awk '/^component [0-9]+ : <(Sigmoid|Tanh|ParametricRelu)>/ {printf " %s", $2} END {print ""}' \
      "$pieces/nnet-info.txt" | sed 's/^/hidden/'
  } > "$pieces/plan.tmp"
  mv "$pieces/plan.tmp" "$pieces/plan"
fi
num_components=$(awk '$1 == "num-components" {print $2}' "$pieces/plan")
hidden=($(awk '$1 == "hidden" {$1 = ""; print}' "$pieces/plan"))
num_hidden=${#hidden[@]}
if [ "$num_hidden" -eq 0 ]; then
  echo "$0: $model/final.nnet has no hidden layers (Sigmoid, Tanh or ParametricRelu)" >&2
  exit 1
fi

wanted=()
if [ "$layers" = all ]; then
  wanted=($(seq "$num_hidden"))
else
  for part in ${layers//,/ }; do
    if [[ ! "$part" =~ ^[0-9]+(-[0-9]+)?$ ]]; then
      echo "$0: --layers expects e.g. 1,3 or 2-5, not '$layers'" >&2; exit 1
    fi
    wanted+=($(seq "${part%-*}" "${part#*-}"))
  done
fi
last=0
for k in "${wanted[@]}"; do
  if [ "$k" -lt 1 ] || [ "$k" -gt "$num_hidden" ]; then
    echo "$0: layer $k asked for, but $model/final.nnet has hidden layers 1..$num_hidden" >&2
    exit 1
  fi
  [ "$k" -gt "$last" ] && last=$k
done
$write_output && last=$num_hidden

if [ "$stage" -le 4 ]; then
  echo "$0: stage forward ($num_hidden hidden layers, computing 1..$last)" >&2
  # Cut the network once: piece k = components after layer k-1's nonlinearity up to layer k's.
  prev=0
  for k in $(seq "$last"); do
    pos=${hidden[$((k - 1))]}
    [ -f "$pieces/piece$k.nnet" ] || \
      nnet-copy --remove-first-components="$prev" --remove-last-components="$((num_components - pos))" \
        "$model/final.nnet" "$pieces/piece$k.nnet" 2>> "$dir/log/cut.log"
    prev=$pos
  done
  if $write_output && [ ! -f "$pieces/output.nnet" ]; then
    nnet-copy --remove-first-components="$prev" "$model/final.nnet" "$pieces/output.nnet" \
      2>> "$dir/log/cut.log"
  fi
  input="scp:$dir/$feats.JOB.scp"
  ft_opt=()
  if [ -f "$model/final.feature_transform" ]; then
    if $keep_intermediate; then
      $cmd JOB=1:"$nj" "$dir/log/forward.input.JOB.log" \
        nnet-forward --use-gpu="$use_gpu" "$model/final.feature_transform" "$input" \
          "ark,scp:$dir/nnet_input.JOB.ark,$dir/nnet_input.JOB.scp"
      merge nnet_input
      input="scp:$dir/nnet_input.JOB.scp"
    else
      ft_opt=(--feature-transform="$model/final.feature_transform")
    fi
  fi
  for k in $(seq "$last"); do
    $cmd JOB=1:"$nj" "$dir/log/forward.layer$k.JOB.log" \
      nnet-forward --use-gpu="$use_gpu" "${ft_opt[@]}" "$pieces/piece$k.nnet" "$input" \
        "ark,scp:$dir/layer$k.JOB.ark,$dir/layer$k.JOB.scp"
    input="scp:$dir/layer$k.JOB.scp"
    ft_opt=()
  done
  if $write_output; then
    out_opts=()
    if [ "$output_type" = loglik ]; then
      out_opts=(--no-softmax=true --class-frame-counts="$model/ali_train_pdf.counts")
    fi
    $cmd JOB=1:"$nj" "$dir/log/forward.output.JOB.log" \
      nnet-forward --use-gpu="$use_gpu" "${out_opts[@]}" "$pieces/output.nnet" "$input" \
        "ark,scp:$dir/output.JOB.ark,$dir/output.JOB.scp"
    merge output
  fi
  for k in $(seq "$last"); do merge "layer$k"; done
fi

# Every utterance must have every requested layer.
num_utts=$(wc -l < "$data/wav.scp")
check=("${wanted[@]/#/layer}")
$write_output && check+=(output)
for name in "${check[@]}"; do
  n=$(wc -l < "$dir/$name.scp")
  if [ "$n" -ne "$num_utts" ]; then
    lost=$(awk '{print $1}' "$dir/$name.scp" | sort | comm -13 - <(awk '{print $1}' "$data/wav.scp" | sort) | head -5 | tr '\n' ' ')
    echo "$0: $name has $n of $num_utts utterances (missing e.g.: $lost); see $dir/log" >&2
    exit 1
  fi
done
printf '%s\n' "${wanted[@]}" > "$dir/layers"
touch "$dir/.done"
echo "$0: done: $num_utts utterance(s), layers ${wanted[*]} in $dir" >&2
