# The one place to choose how jobs run: run.pl (this machine), queue.pl (Grid Engine),
# slurm.pl (Slurm). getact.sh's --cmd overrides it.
export cmd="run.pl"
# export cmd="queue.pl --mem 4G"
# export cmd="slurm.pl --mem 4G"
