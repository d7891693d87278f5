# Sourced by every recipe's run.sh after it sets its defaults:
#   recipe=NAME; corpus=DEFAULT_DIR; stage=0; stop_stage=N; (other options as variables)
#   . ../common.sh "$@"
# Each "--some-option VALUE" sets the variable some_option, which must already exist
# (a typo is an error, as in Kaldi's parse_options.sh); a bare argument sets corpus.
while [ $# -gt 0 ]; do
  case $1 in
    --*)
      name=${1#--}; name=${name//-/_}
      if [ -z "${!name+set}" ] || [ $# -lt 2 ]; then echo "$0: unknown option or missing value: $1" >&2; exit 2; fi
      printf -v "$name" '%s' "$2"; shift 2;;
    *) corpus=$1; shift;;
  esac
done

log() { echo "$(date '+%F %T') [$recipe] $*"; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
# train CONFIG EXP_DIR [ASR TRAIN OPTIONS]: continue the run if it has a checkpoint, else start it.
train() {
  if [ -f "$2/checkpoints/last.pt" ]; then asr train "$1" --resume "${@:3}"; else asr train "$1" "${@:3}"; fi
}
