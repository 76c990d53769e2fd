# Source me: puts Kaldi's featbin, nnetbin, bin (online2bin, nnet3bin) and utils on PATH (Kaldi egs
# convention).
# Needs KALDI_ROOT: the top of a Kaldi checkout whose src/ is built.
if [ -z "${KALDI_ROOT:-}" ]; then
  echo "path.sh: KALDI_ROOT is not set; export KALDI_ROOT=/path/to/kaldi (a built checkout)" >&2
  return 1 2>/dev/null || exit 1
fi
for _d in src/featbin src/nnetbin src/bin egs/wsj/s5/utils; do
  if [ ! -d "$KALDI_ROOT/$_d" ]; then
    echo "path.sh: $KALDI_ROOT/$_d is missing; KALDI_ROOT must be a Kaldi checkout with src/ built (make -C src featbin nnetbin bin)" >&2
    return 1 2>/dev/null || exit 1
  fi
done
unset _d
export PATH="$KALDI_ROOT/src/featbin:$KALDI_ROOT/src/nnetbin:$KALDI_ROOT/src/bin:$KALDI_ROOT/egs/wsj/s5/utils:$PATH"
# online2bin (apply-cmvn-online, ivector-extract-online2) and nnet3bin (nnet3 models) only where
# built: getact.sh and getact_nnet3.sh check for the programs they need and say so.
[ ! -d "$KALDI_ROOT/src/online2bin" ] || export PATH="$KALDI_ROOT/src/online2bin:$PATH"
[ ! -d "$KALDI_ROOT/src/nnet3bin" ] || export PATH="$KALDI_ROOT/src/nnet3bin:$PATH"
export LC_ALL=C
