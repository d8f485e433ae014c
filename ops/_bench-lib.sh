# Shared by the benchmark scripts (ops/bench-*.sh), sourced after they `cd` to the repository: which
# parts of a benchmark the command line asks for, and the PostgreSQL server the benchmarks use.

# bench_wanted OPTION ARGS...: the values given to OPTION in ARGS (`OPTION V` or `OPTION=V`), kept in
# the array `wanted`.
bench_wanted() {
  local option=$1 i
  shift
  local args=("$@")
  wanted=()
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      "$option") wanted+=("${args[i + 1]:-}") ;;
      "$option"=*) wanted+=("${args[i]#"$option"=}") ;;
    esac
  done
}

# wants NAME: whether NAME was asked for (everything is when nothing was).
wants() { [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $1 "* ]]; }

# ensure_bench_postgres: unless OAIS_BENCH_POSTGRES_URL is set already, make sure PostgreSQL answers
# on 127.0.0.1:5432 (ops/postgres.sh) and export its admin URL (a role that may create databases).
ensure_bench_postgres() {
  if [ -z "${OAIS_BENCH_POSTGRES_URL:-}" ]; then
    OAIS_BENCH_POSTGRES_URL=$(bash ops/postgres.sh | tail -n 1)
    export OAIS_BENCH_POSTGRES_URL
  fi
}
