# Source me after setting the option variables: Kaldi's utils/parse_options.sh, without eval.
#
# Same command line as Kaldi's (--name value, --help, booleans must be true/false, an option
# must have a default to exist), but option values are assigned as data (printf -v), never
# evaluated: Kaldi's version runs `eval $name=\"$2\"`, so a value such as a path holding $(...)
# would run as a command. Names must be [a-z0-9_-]; --config (which sources a file as bash)
# is refused: pass the options themselves.

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      printf '%s\n' "${help_message:-No help found.}" >&2
      exit 0 ;;
    --*=*)
      echo "$0: options to scripts must be of the form --name value, got '$1'" >&2
      exit 1 ;;
    --config)
      echo "$0: --config is not supported (it would run a file as bash); pass the options" >&2
      exit 1 ;;
    --*)
      _po_name=${1#--}
      if [[ ! "$_po_name" =~ ^[a-z0-9][a-z0-9_-]*$ ]]; then
        echo "$0: invalid option '$1'" >&2
        exit 1
      fi
      _po_name=${_po_name//-/_}
      if [ -z "${!_po_name+set}" ]; then
        echo "$0: invalid option $1" >&2
        exit 1
      fi
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2
        exit 1
      fi
      _po_old=${!_po_name}
      if { [ "$_po_old" = true ] || [ "$_po_old" = false ]; } && \
         [ "$2" != true ] && [ "$2" != false ]; then
        echo "$0: expected \"true\" or \"false\": $1 $2" >&2
        exit 1
      fi
      printf -v "$_po_name" '%s' "$2"
      shift 2 ;;
    *) break ;;
  esac
done
unset _po_name _po_old
if [ -n "${cmd+set}" ] && [ -z "$cmd" ]; then
  echo "$0: empty argument to --cmd option" >&2
  exit 1
fi
true
