#!/usr/bin/env bash
# getact_nnet3.sh: the hidden-layer activations of a Kaldi nnet3 model (TDNN, TDNN-F, chain or
# not; Kaldi's model dirs and Vosk's layout) for a data dir, every layer in one pass.
# Stages: mfcc -> ivector -> forward (0..2, see --stage).
#
# As Kaldi's steps/nnet3/make_bottleneck_features.sh, nnet3-copy --nnet-config adds an
# output-node; here it is output=Append(<every requested layer>), so one nnet3-compute pass
# gives all the layers side by side and select-feats splits them into layerK.scp. A hidden
# layer is the output of a nonlinearity node (ReLU, sigmoid, tanh, p-norm) on the way to the
# node 'output', in config order. nnet3-compute runs with its defaults (--frames-per-chunk=50,
# no extra context, every frame).
#
# i-vectors, when the network has an 'ivector' input: ivector-extract-online2 on the hires
# MFCCs, configured from the model's conf/ivector_extractor.conf, or from an extractor folder
# (ivector/ as Vosk ships it, with Vosk's --max-count=100; ivector_extractor/ or extractor/
# with Kaldi's defaults), one speaker per utterance (nothing carried over between utterances),
# then nnet3-compute --online-ivectors --online-ivector-period.
#
# Safety: Kaldi's run.pl/queue.pl/slurm.pl join their arguments unquoted into a bash command
# line. This script cds into <out-dir> and names everything there by safe relative names (the
# model dir, the data and the configs are linked or copied in), and every option read from a
# model file must be a known option whose value matches ^[A-Za-z0-9_./:=,+-]*$, or it stops.
# Its own options are parsed by local/parse_options.sh, which never evaluates a value, and
# wav.scp entries that are commands ("sox ... |") are refused unless --allow-pipes true.

echo "$0 $*"

nj=1
cmd=
stage=0
layers=all              # all, numbers (1,3 or 2-5) or node names (tdnn1.relu,tdnnf5.relu)
use_gpu=no
frames_per_chunk=50     # nnet3-compute's default
write_output=false      # also write the network output (node 'output') as output.scp
mfcc_config=            # default: <model>/conf/mfcc.conf (or conf/mfcc_hires.conf)
online_ivectors=        # an scp of online i-vectors made elsewhere (skips stage ivector)
online_ivector_period=  # their period in frames (default: the extractor's, else 10)
allow_pipes=false       # accept wav.scp entries that are commands ("sox ... |")

help_message="Usage: $0 [options] <data-dir> <model-dir> <out-dir>
 e.g.: $0 --nj 2 data/test ~/vosk-model-small-ko-0.22 exp/act_test
Writes <out-dir>/layerK.scp (+ per-job arks) for each hidden layer K, feats.scp (hires MFCC),
ivector_online.scp (when the network takes i-vectors), layers (number, node name, units);
logs in <out-dir>/log. wav.scp entries must be absolute paths (local/make_data.sh).
Options:
  --nj <n>                    # parallel jobs (data split by speaker) (default: $nj)
  --cmd <cmd>                 # run.pl, queue.pl, slurm.pl ... (default: from cmd.sh); their
                              # jobs start in <out-dir>, where this script puts path.sh and
                              # conf/queue.conf / conf/slurm.conf (as getact.sh does)
  --stage <n>                 # start from stage n: 0 mfcc, 1 ivector, 2 forward
  --layers <list>             # all, 1,3 or 2-5, or node names (default: $layers)
  --use-gpu <yes|no>          # for nnet3-compute (default: $use_gpu)
  --frames-per-chunk <n>      # for nnet3-compute (default: $frames_per_chunk)
  --write-output <bool>       # also write the network output, output.scp (default: $write_output)
  --mfcc-config <file>        # hires MFCC options (default: <model>/conf/mfcc.conf)
  --online-ivectors <scp>     # i-vectors made elsewhere, every --online-ivector-period frames
  --online-ivector-period <n> # (default: the extractor's --ivector-period, else 10)
  --allow-pipes <bool>        # run wav.scp entries that are commands (default: $allow_pipes)"

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$recipe_dir/path.sh" || exit 1
. "$recipe_dir/cmd.sh"
. "$recipe_dir/local/parse_options.sh" || exit 1
. "$recipe_dir/local/cluster.sh"

if [ $# -ne 3 ]; then
  echo "$help_message" >&2
  exit 1
fi
set -euo pipefail

safe='^[A-Za-z0-9_./:=,+-]*$'
check_safe() {  # check_safe <what> <value>: a value that may reach run.pl's command line
  if [[ ! "$2" =~ $safe ]]; then
    echo "$0: $1 '$2' has characters a shell would interpret; only [A-Za-z0-9_./:=,+-] are allowed" >&2
    exit 1
  fi
}
for opt in nj stage layers use_gpu frames_per_chunk write_output online_ivector_period allow_pipes; do
  check_safe "--${opt//_/-}" "${!opt}"
done
[[ "$nj$stage$frames_per_chunk" =~ ^[0-9]+$ ]] && [ "$nj" -ge 1 ] && [ "$frames_per_chunk" -ge 1 ] || {
  echo "$0: --nj, --stage and --frames-per-chunk must be whole numbers (nj, chunk >= 1)" >&2; exit 1; }
case "$write_output" in true|false) ;; *) echo "$0: --write-output must be true or false" >&2; exit 1 ;; esac
case "$use_gpu" in yes|no|optional|wait) ;; *) echo "$0: --use-gpu must be yes, no, optional or wait" >&2; exit 1 ;; esac

for b in compute-mfcc-feats select-feats copy-feats nnet3-info nnet3-copy nnet3-compute ivector-extract-online2; do
  command -v "$b" > /dev/null || { echo "$0: $b not found; build Kaldi's src/featbin, src/nnet3bin and src/online2bin" >&2; exit 1; }
done

data=$1
model=$2
dir=$3

missing=()
for f in "$data/wav.scp" "$data/utt2spk" "$data/spk2utt"; do [ -f "$f" ] || missing+=("$f"); done
mdl=
for m in final.mdl am/final.mdl final.raw; do
  if [ -f "$model/$m" ]; then mdl=$m; break; fi
done
[ -n "$mdl" ] || missing+=("$model/final.mdl (or am/final.mdl, final.raw)")
if [ -z "$mfcc_config" ]; then
  for c in conf/mfcc.conf conf/mfcc_hires.conf; do
    if [ -f "$model/$c" ]; then mfcc_config="$model/$c"; break; fi
  done
  [ -n "$mfcc_config" ] || missing+=("$model/conf/mfcc.conf (the hires MFCC options)")
elif [ ! -f "$mfcc_config" ]; then
  missing+=("$mfcc_config")
fi
[ -z "$online_ivectors" ] || [ -f "$online_ivectors" ] || missing+=("$online_ivectors")
if [ ${#missing[@]} -gt 0 ]; then
  echo "$0: missing input file(s): ${missing[*]}" >&2
  exit 1
fi
if ! $allow_pipes && grep -q -E '(\|[[:space:]]*$)|^[^[:space:]]+[[:space:]]+-[[:space:]]*$' "$data/wav.scp"; then
  echo "$0: $data/wav.scp: entry $(grep -m1 -E '\|[[:space:]]*$|^[^[:space:]]+[[:space:]]+-[[:space:]]*$' "$data/wav.scp" | cut -d' ' -f1 | head -c 40) is a command or stdin; write the audio to wav files (local/make_data.sh), or pass --allow-pipes true to run the commands in it" >&2
  exit 1
fi
if [ -f "$data/segments" ]; then
  echo "$0: $data/segments: data dirs with segments are not supported; one wav per utterance" >&2
  exit 1
fi

# Everything below runs inside $dir under safe names.
data_abs=$(cd "$data" && pwd)
model_abs=$(cd "$model" && pwd)
mfcc_abs=$(cd "$(dirname "$mfcc_config")" && pwd)/$(basename "$mfcc_config")
ivec_abs=
[ -z "$online_ivectors" ] || ivec_abs=$(cd "$(dirname "$online_ivectors")" && pwd)/$(basename "$online_ivectors")
here=$(pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
logdir=$(cluster_logdir "$dir") || exit 1
cd "$dir"
rm -f .done
mkdir -p log conf data nnet ivector_extractor
write_cluster_files "$here" "$recipe_dir"
ln -sfn "$model_abs" model
ln -sfn "$KALDI_ROOT/egs/wsj/s5/utils" utils
for f in wav.scp utt2spk spk2utt; do
  [ data/$f -nt "$data_abs/$f" ] || cp "$data_abs/$f" data/$f
done
awk '$NF !~ /\|$/ && $2 !~ /^\// {print "'"$0"': wav.scp entry " $1 " has a relative path (" $2 "); make the data dir with local/make_data.sh"; bad=1} END {exit bad}' data/wav.scp >&2

# Options read from model files: known names, safe values, one per line.
read_options() {  # read_options <file> <known-names-regexp>
  local line name
  sed -e 's/#.*//' "$1" | tr -s ' \t' '\n\n' | { grep -v '^$' || true; } | while read -r line; do
    name=${line%%=*}
    if [[ ! "$name" =~ ^--($2)$ ]]; then
      echo "$0: $1: option '$name' is not one this recipe passes on" >&2; exit 1
    fi
    check_safe "$1: option" "$line"
    echo "$line"
  done
}
mfcc_opts='sample-frequency|frame-length|frame-shift|dither|preemphasis-coefficient|remove-dc-offset|window-type|round-to-power-of-two|blackman-coeff|snip-edges|num-mel-bins|low-freq|high-freq|vtln-low|vtln-high|num-ceps|use-energy|energy-floor|raw-energy|cepstral-lifter|htk-compat|allow-upsample|allow-downsample|subtract-mean|vtln-warp|max-feature-vectors|output-format|channel|min-duration|debug-mel'
read_options "$mfcc_abs" "$mfcc_opts" > conf/mfcc.conf.tmp
grep -q -- '^--dither' conf/mfcc.conf.tmp || echo "--dither=0" >> conf/mfcc.conf.tmp
mv conf/mfcc.conf.tmp conf/mfcc.conf

# The network: its inputs and hidden layers, from nnet3-info.
if [ ! -f nnet/info.txt ] || [ "model/$mdl" -nt nnet/info.txt ]; then
  nnet3-info "model/$mdl" > nnet/info.txt.tmp 2> log/nnet3-info.log
  mv nnet/info.txt.tmp nnet/info.txt
fi
ivector_dim=$(awk '$1 == "input-node" && $2 == "name=ivector" {sub(/^dim=/, "", $3); print $3}' nnet/info.txt)
# Nonlinearity nodes that 'output' depends on, in config order: name and dim.
awk '
  function field(line, key,   s, e) {   # the value of key= up to the next " word="
    s = index(line, " " key "="); if (!s) return "";
    line = substr(line, s + length(key) + 2);
    e = match(line, / [a-z-]+=/); return e ? substr(line, 1, e - 1) : line;
  }
  function refs(desc,   n, i, t, out) {
    n = split(desc, t, /[(), ]+/); out = "";
    for (i = 1; i <= n; i++) if (t[i] != "") out = out " " t[i];
    return out;
  }
  /^component name=/ { split($2, a, "="); split($3, b, "="); sub(/,$/, "", b[2]); type[a[2]] = b[2] }
  /^component-node / { n = field($0, "name"); order[++num] = n; comp[n] = field($0, "component");
                       deps[n] = refs(field($0, "input")); dim[n] = field($0, "output-dim") }
  /^dim-range-node / { deps[field($0, "name")] = " " field($0, "input-node") }
  /^output-node / && field($0, "name") == "output" { root = refs(field($0, "input")) }
  END {
    k = split(root, todo, " ");
    while (k > 0) { x = todo[k--]; if (x in seen) continue; seen[x] = 1;
                    m = split(deps[x], d, " "); for (i = 1; i <= m; i++) todo[++k] = d[i] }
    for (i = 1; i <= num; i++) { n = order[i]
      if ((n in seen) && type[comp[n]] ~ /^(RectifiedLinear|Sigmoid|Tanh|Pnorm)Component$/)
        print n, dim[n] }
  }' nnet/info.txt > nnet/hidden
output_desc=$(awk '/^output-node / && index($0, " name=output ") {
  s = substr($0, index($0, " input=") + 7); sub(/ (dim|objective)=.*/, "", s); print s }' nnet/info.txt)
output_dim=$(awk '$1 == "output-node" && $2 == "name=output" {for (i = 3; i <= NF; i++) if ($i ~ /^dim=/) {sub(/^dim=/, "", $i); print $i}}' nnet/info.txt)
num_hidden=$(wc -l < nnet/hidden)
awk 'NF != 2 || $2 !~ /^[0-9]+$/ {exit 1}' nnet/hidden && [[ "$output_dim" =~ ^[0-9]+$ ]] || {
  echo "$0: could not read the layers' sizes from nnet3-info (nnet/info.txt)" >&2; exit 1; }
if [ "$num_hidden" -eq 0 ] || [ -z "$output_desc" ]; then
  echo "$0: model/$mdl has no hidden layers on the way to a node 'output' (see nnet/info.txt)" >&2
  exit 1
fi

wanted=()
if [ "$layers" = all ]; then
  wanted=($(seq "$num_hidden"))
else
  for part in ${layers//,/ }; do
    if [[ "$part" =~ ^[0-9]+(-[0-9]+)?$ ]]; then
      a=${part%-*} b=${part#*-}
      if [ "$a" -lt 1 ] || [ "$b" -gt "$num_hidden" ] || [ "$a" -gt "$b" ]; then
        echo "$0: layers $part asked for, but model/$mdl has hidden layers 1..$num_hidden" >&2; exit 1
      fi
      wanted+=($(seq "$a" "$b"))
    else
      k=$(awk -v n="$part" '$1 == n {print NR}' nnet/hidden)
      [ -n "$k" ] || { echo "$0: no hidden layer named '$part'; they are: $(awk '{printf "%s ", $1}' nnet/hidden)" >&2; exit 1; }
      wanted+=("$k")
    fi
  done
fi
wanted=($(printf '%s\n' "${wanted[@]}" | sort -n | uniq))

# i-vectors: the extractor's files linked under ivector_extractor/, its options checked.
ivector_opts=()
if [ -n "$ivector_dim" ] && [ "$ivector_dim" -gt 0 ]; then
  if [ -n "$ivec_abs" ]; then
    ln -sfn "$ivec_abs" ivector_online.given.scp
    period=${online_ivector_period:-10}
  else
    ie_opts='ivector-period|num-gselect|min-post|posterior-scale|max-count|num-cg-iters|online-cmvn-iextractor|max-remembered-frames|use-most-recent-ivector'
    : > conf/ivector_extractor.conf
    src=
    for c in conf/ivector_extractor.conf conf/ivector.conf; do [ -f "model/$c" ] && src=model/$c && break; done
    if [ -n "$src" ]; then  # Kaldi's online dir: resolve its file options as deepbrain does
      sed -e 's/#.*//' "$src" | tr -s ' \t' '\n\n' | { grep -v '^$' || true; } > conf/ivector_extractor.src
      while read -r line; do
        name=${line%%=*}; value=${line#*=}
        case "$name" in
          --lda-matrix) target=final.mat ;; --global-cmvn-stats) target=global_cmvn.stats ;;
          --diag-ubm) target=final.dubm ;; --ivector-extractor) target=final.ie ;;
          --cmvn-config) target=online_cmvn.conf ;; --splice-config) target=splice.conf ;;
          *) if [[ ! "$name" =~ ^--($ie_opts)$ ]]; then
               echo "$0: $src: option '$name' is not one this recipe passes on" >&2; exit 1; fi
             check_safe "$src: option" "$line"; echo "$line" >> conf/ivector_extractor.conf; continue ;;
        esac
        found=
        for cand in "$value" "model/$value" "model/ivector_extractor/$(basename "$value")" "model/conf/$(basename "$value")" "model/$(basename "$value")"; do
          if [ -f "$cand" ]; then found=$(cd "$(dirname "$cand")" && pwd)/$(basename "$cand"); break; fi
        done
        [ -n "$found" ] || { echo "$0: $src: $name=$value not found" >&2; exit 1; }
        ln -sfn "$found" "ivector_extractor/$target"
      done < conf/ivector_extractor.src
    else
      folder=
      for d in ivector ivector_extractor extractor; do [ -f "model/$d/final.ie" ] && folder=model/$d && break; done
      [ -n "$folder" ] || { echo "$0: model/$mdl takes i-vectors but the model has no extractor (conf/ivector_extractor.conf or ivector/final.ie); pass --online-ivectors" >&2; exit 1; }
      for f in final.mat global_cmvn.stats final.dubm final.ie; do
        [ -f "$folder/$f" ] || { echo "$0: missing input file: $folder/$f" >&2; exit 1; }
        ln -sfn "$(cd "$folder" && pwd)/$f" "ivector_extractor/$f"
      done
      [ ! -f "$folder/online_cmvn.conf" ] || ln -sfn "$(cd "$folder" && pwd)/online_cmvn.conf" ivector_extractor/online_cmvn.conf
      if [ -f "$folder/splice.conf" ]; then
        ln -sfn "$(cd "$folder" && pwd)/splice.conf" ivector_extractor/splice.conf
      elif [ -f "$folder/splice_opts" ]; then
        cp "$folder/splice_opts" ivector_extractor/splice_opts
      else
        echo "$0: missing input file: $folder/splice.conf (or splice_opts)" >&2; exit 1
      fi
      # Vosk runs its extractor with max_count = 100 (vosk-api model.cc); Kaldi's default is 0.
      [ "$folder" = model/ivector ] && [ "$mdl" = am/final.mdl ] && echo "--max-count=100" >> conf/ivector_extractor.conf
    fi
    # splice options and online CMVN options: files Kaldi reads as config, checked here too.
    if [ -e ivector_extractor/splice_opts ] && [ ! -e ivector_extractor/splice.conf ]; then
      tr -s ' \t' '\n\n' < ivector_extractor/splice_opts | { grep -v '^$' || true; } > conf/splice.conf.src
    else
      cp ivector_extractor/splice.conf conf/splice.conf.src
    fi
    read_options conf/splice.conf.src 'left-context|right-context' > conf/splice.conf
    if [ -e ivector_extractor/online_cmvn.conf ]; then
      read_options ivector_extractor/online_cmvn.conf 'cmn-window|global-frames|speaker-frames|norm-vars|norm-means|skip-dims' > conf/online_cmvn.conf
    else
      : > conf/online_cmvn.conf
    fi
    for f in final.mat global_cmvn.stats final.dubm final.ie; do
      [ -e ivector_extractor/$f ] || { echo "$0: the i-vector extractor has no $f" >&2; exit 1; }
    done
    { echo "--lda-matrix=ivector_extractor/final.mat"
      echo "--global-cmvn-stats=ivector_extractor/global_cmvn.stats"
      echo "--diag-ubm=ivector_extractor/final.dubm"
      echo "--ivector-extractor=ivector_extractor/final.ie"
      echo "--cmvn-config=conf/online_cmvn.conf"
      echo "--splice-config=conf/splice.conf"; } >> conf/ivector_extractor.conf
    period=$(awk -F= '$1 == "--ivector-period" {p = $2} END {print (p == "" ? 10 : p)}' conf/ivector_extractor.conf)
    [ -z "$online_ivector_period" ] || period=$online_ivector_period
  fi
  check_safe "--online-ivector-period" "$period"
  ivector_opts=(--online-ivectors=scp:ivector_online.JOB.scp "--online-ivector-period=$period")
fi

# Split the data by speaker (as the nnet1 recipe does; i-vectors are still per utterance).
sdata=data/split$nj
if [ ! -d "$sdata/$nj" ] || [ data/wav.scp -nt "$sdata/$nj/wav.scp" ]; then
  utils/split_data.sh data "$nj" > log/split.log 2>&1 || { echo "$0: splitting the data failed, see $dir/log/split.log" >&2; exit 1; }
fi

merge() {  # merge per-job scp files into one, sorted like Kaldi tables, with absolute paths
  local name=$1  # (the per-job ones Kaldi reads here stay relative: safe names only)
  for j in $(seq "$nj"); do cat "$name.$j.scp"; done | \
    HERE="$PWD" awk '{ key = $1; sub(/^[^ ]+ /, ""); if ($0 !~ /^\//) $0 = ENVIRON["HERE"] "/" $0;
                      print key " " $0 }' | sort > "$name.scp"
}

if [ "$stage" -le 0 ]; then
  echo "$0: stage mfcc" >&2
  $cmd JOB=1:"$nj" "$logdir/mfcc.JOB.log" \
    compute-mfcc-feats --config=conf/mfcc.conf "scp:$sdata/JOB/wav.scp" \
      ark,scp:feats.JOB.ark,feats.JOB.scp
  merge feats
fi

if [ ${#ivector_opts[@]} -gt 0 ]; then
  if [ -n "$ivec_abs" ]; then
    for j in $(seq "$nj"); do
      awk 'NR == FNR {want[$1] = 1; next} $1 in want' "$sdata/$j/utt2spk" ivector_online.given.scp > ivector_online.$j.scp
    done
    merge ivector_online
  elif [ "$stage" -le 1 ]; then
    echo "$0: stage ivector" >&2
    for j in $(seq "$nj"); do  # one speaker per utterance: no state carried between utterances
      awk '{print $1, $1}' "$sdata/$j/utt2spk" > "$sdata/$j/utt2utt"
    done
    $cmd JOB=1:"$nj" "$logdir/ivector.JOB.log" \
      ivector-extract-online2 --config=conf/ivector_extractor.conf "ark:$sdata/JOB/utt2utt" \
        scp:feats.JOB.scp ark,scp:ivector_online.JOB.ark,ivector_online.JOB.scp
    merge ivector_online
  fi
fi

if [ "$stage" -le 2 ]; then
  echo "$0: stage forward (${#wanted[@]} of $num_hidden hidden layers, one pass)" >&2
  parts=()
  for k in "${wanted[@]}"; do parts+=("$(sed -n "${k}p" nnet/hidden | cut -d' ' -f1)"); done
  $write_output && parts+=("$output_desc")
  desc=$(IFS=,; echo "${parts[*]}")
  [ ${#parts[@]} -eq 1 ] || desc="Append($desc)"
  echo "output-node name=output input=$desc objective=linear" > nnet/extract.config
  nnet3-copy --nnet-config=nnet/extract.config "model/$mdl" nnet/extract.raw 2> log/nnet3-copy.log || {
    echo "$0: nnet3-copy failed, see $dir/log/nnet3-copy.log" >&2; exit 1; }
  $cmd JOB=1:"$nj" "$logdir/forward.JOB.log" \
    nnet3-compute --use-gpu="$use_gpu" --frames-per-chunk="$frames_per_chunk" "${ivector_opts[@]}" \
      nnet/extract.raw scp:feats.JOB.scp ark,scp:forward.JOB.ark,forward.JOB.scp
  offset=0
  names=()
  for k in "${wanted[@]}"; do names+=("layer$k:$(sed -n "${k}p" nnet/hidden | cut -d' ' -f2)"); done
  $write_output && names+=("output:$output_dim")
  for spec in "${names[@]}"; do
    name=${spec%%:*} width=${spec#*:}
    $cmd JOB=1:"$nj" "$logdir/split.$name.JOB.log" \
      select-feats "$offset-$((offset + width - 1))" scp:forward.JOB.scp ark,scp:$name.JOB.ark,$name.JOB.scp
    merge "$name"
    offset=$((offset + width))
  done
  rm -f forward.*.ark forward.*.scp
fi

# Every utterance must have every requested layer.
num_utts=$(wc -l < data/wav.scp)
check=("${wanted[@]/#/layer}")
$write_output && check+=(output)
for name in "${check[@]}"; do
  n=$(wc -l < "$name.scp")
  if [ "$n" -ne "$num_utts" ]; then
    lost=$(awk '{print $1}' "$name.scp" | sort | comm -13 - <(awk '{print $1}' data/wav.scp | sort) | head -5 | tr '\n' ' ')
    echo "$0: $name has $n of $num_utts utterances (missing e.g.: $lost); see $dir/log" >&2
    exit 1
  fi
done
for k in "${wanted[@]}"; do echo "$k $(sed -n "${k}p" nnet/hidden)"; done > layers
touch .done
echo "$0: done: $num_utts utterance(s), layers ${wanted[*]} in $dir" >&2
