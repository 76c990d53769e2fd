# Source me: puts Kaldi's featbin, nnetbin, bin and utils on PATH (Kaldi egs convention).
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
# nnet3bin and online2bin serve getact_nnet3.sh, which checks for them itself.
export PATH="$KALDI_ROOT/src/featbin:$KALDI_ROOT/src/nnetbin:$KALDI_ROOT/src/nnet3bin:$KALDI_ROOT/src/online2bin:$KALDI_ROOT/src/bin:$KALDI_ROOT/egs/wsj/s5/utils:$PATH"
export LC_ALL=C
