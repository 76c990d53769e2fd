# Source me (getact.sh, getact_nnet3.sh): what Kaldi's queue.pl and slurm.pl need of a
# recipe's output dir. Needs $cmd set (cmd.sh, --cmd).

# cluster_logdir <abs-out-dir>: the log dir to hand $cmd. run.pl gets "log", relative, so
# the out dir's own path never reaches its command lines; queue.pl and slurm.pl write the
# current dir into their job scripts, where a shell reads it, so for them the path must be
# plain, and they get it whole (their messages and q/ dir then name it).
cluster_logdir() {
  case "${cmd%% *}" in
    run.pl|*/run.pl) echo log ;;
    *) if [[ ! "$1" =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then
         echo "$0: $1: $cmd writes this path into its job scripts, where a shell would read it; use an output dir whose path has only letters, digits and _./:=,+-" >&2
         return 1
       fi
       echo "$1/log" ;;
  esac
}

# write_cluster_files <started-in-dir> <recipes-dir>, run in the out dir: queue.pl and
# slurm.pl start each job with `cd <out-dir>; . ./path.sh` and read their options from
# conf/<name>.conf there: the user's (in the dir the recipe was started in), else the
# recipes' own.
write_cluster_files() {
  local c src
  printf 'export KALDI_ROOT=%q\n. %q\n' "$KALDI_ROOT" "$2/path.sh" > path.sh
  mkdir -p conf
  for c in queue slurm; do
    for src in "$1/conf/$c.conf" "$2/conf/$c.conf"; do
      if [ -f "$src" ]; then cp -- "$src" "conf/$c.conf"; break; fi
    done
  done
}
