#!/usr/bin/env bash
# A disposable single-node Ceph cluster (one monitor, one BlueStore OSD on a sparse file, one RADOS
# Gateway serving S3) built from Debian 12's packages, bound to 127.0.0.1, without systemd or a
# manager daemon. The tests use it as a real S3 server; see docs/ceph.md.
#
#   bash ops/ceph-rgw.sh start    [DIR]           create the cluster, or restart it (data kept);
#                                                 prints the OAIS_TEST_S3_* lines on stdout
#   bash ops/ceph-rgw.sh stop     [DIR] [--purge] stop radosgw, then the OSD, then the monitor;
#                                                 --purge also deletes DIR
#   bash ops/ceph-rgw.sh stop-rgw [DIR]           stop radosgw only (S3 goes away, RADOS stays up);
#                                                 `start` brings it back
#   bash ops/ceph-rgw.sh env      [DIR]           print the OAIS_TEST_S3_* lines again
#   bash ops/ceph-rgw.sh status   [DIR]           daemons, endpoint, memory; exit 0 only if all run
#
# DIR defaults to $OAIS_CEPH_DIR, else /var/tmp/oais-ceph. Environment read when DIR is created
# (later starts reuse what DIR/settings.env recorded):
#   OAIS_CEPH_RGW_PORT=7480   S3 port (HTTP)
#   OAIS_CEPH_MON_PORT=3300   monitor port (msgr v2)
# Read by every start:
#   OAIS_CEPH_START_TIMEOUT=120  seconds allowed once the packages are present
set -euo pipefail

readonly IP=127.0.0.1
readonly PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)
readonly PY=/usr/bin/python3 # Debian's interpreter: python3-rados is not visible from a virtualenv
readonly STOP_GRACE=20       # seconds between SIGTERM and SIGKILL

say() { printf 'ceph-rgw [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
  local why=$*
  if [ -n "${deadline:-}" ] && [ "$SECONDS" -ge "$deadline" ]; then
    why="$why (the start timeout of ${timeout_s}s ran out; OAIS_CEPH_START_TIMEOUT)"
  fi
  printf 'ERROR: %s\n' "$why" >&2
  reported=1
  exit 1
}
reported=0

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# --- the cluster directory -----------------------------------------------------------------------

set_dir() { # set_dir [DIR]: absolute DIR and the paths derived from it
  local raw=${1:-${OAIS_CEPH_DIR:-/var/tmp/oais-ceph}}
  [ -n "$raw" ] || die "empty directory name"
  DIR=$(realpath -m -- "$raw")
  [ "$DIR" != / ] || die "refusing to use / as the cluster directory"
  CONF=$DIR/ceph.conf
  SETTINGS=$DIR/settings.env
  S3ENV=$DIR/s3.env
  LOGS=$DIR/log
}

# --- daemons of this cluster, found by their command line ----------------------------------------
# A daemon belongs to DIR's cluster when its argv[0] is the daemon's binary and one of its arguments
# is exactly DIR/ceph.conf. No process is ever chosen by name alone.

readonly KINDS=(rgw osd mon) # stop order; start order is the reverse
binary_of() {
  case $1 in
    mon) echo ceph-mon ;;
    osd) echo ceph-osd ;;
    rgw) echo radosgw ;;
  esac
}

alive() { # alive PID: running, and not a zombie (a zombie still answers kill -0)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ -n "$stat" ] && [ "${stat%% *}" != Z ]
}

pids_of() { # pids_of KIND: PIDs of this cluster's live daemons of that kind
  local bin f pid arg
  local -a argv
  bin=$(binary_of "$1")
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    argv=()
    mapfile -d '' -t argv 2>/dev/null <"$f" || continue
    if [ ${#argv[@]} -lt 2 ] || [ "${argv[0]##*/}" != "$bin" ]; then continue; fi
    for arg in "${argv[@]:1}"; do
      if [ "$arg" = "$CONF" ]; then
        alive "$pid" && echo "$pid"
        break
      fi
    done
  done
}

stop_kind() { # stop_kind KIND [GRACE]: SIGTERM, wait, SIGKILL after GRACE (default STOP_GRACE) seconds
  local kind=$1 grace=${2:-$STOP_GRACE} pid waited=0
  local -a pids left
  mapfile -t pids < <(pids_of "$kind")
  [ ${#pids[@]} -gt 0 ] || return 0
  say "stopping $kind (pid ${pids[*]})"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  while :; do
    left=()
    for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    if [ "$waited" -ge $((grace * 10)) ]; then
      say "$kind still running after ${grace}s: SIGKILL ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

port_in_use() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }

# --- start ---------------------------------------------------------------------------------------

launched=() # kinds of daemon this run started (none of that kind ran before), stopped if it fails
run_started=$(date +%s)

on_start_exit() {
  local rc=$? f kind
  trap "" INT TERM
  [ "$rc" -ne 0 ] || return 0
  [ "$reported" = 1 ] || printf 'ERROR: start failed (exit status %s)\n' "$rc" >&2
  if [ -d "${LOGS:-}" ]; then # the logs this run wrote to
    while IFS= read -r -d '' f; do
      printf -- '--- last lines of %s\n' "$f" >&2
      tail -n 12 "$f" >&2
    done < <(find "$LOGS" -maxdepth 1 -type f -size +0 -newermt "@$run_started" -print0 | sort -z)
  fi
  if [ ${#launched[@]} -gt 0 ]; then
    printf 'Stopping the daemons this run started: %s\n' "${launched[*]}" >&2
    for kind in "${KINDS[@]}"; do
      case " ${launched[*]} " in *" $kind "*) stop_kind "$kind" 5 ;; esac
    done
  fi
  exit 1
}

left() { # seconds left before the start deadline, at least 1 (every step runs under `timeout`)
  local n=$((deadline - SECONDS))
  [ "$n" -ge 1 ] || n=1
  echo "$n"
}

install_packages() {
  local missing=0 b
  for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  [ -x "$PY" ] && "$PY" -c 'import rados' 2>/dev/null || missing=1
  [ "$missing" = 1 ] || return 0
  [ "$(id -u)" -eq 0 ] ||
    die "Ceph is not installed and only root can install it: apt-get install --no-install-recommends ${PACKAGES[*]}"
  say "installing ${PACKAGES[*]} (Debian packages)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
}

random_key() { # random_key LENGTH: letters and digits from the kernel's CSPRNG
  head -c 64 /dev/urandom | base32 -w 0 | tr -d '=' | cut -c "1-$1"
}

write_conf() {
  cat >"$CONF.new" <<EOF
# Written by ops/ceph-rgw.sh at every start; edit the script, not this file.
[global]
fsid = $FSID
mon host = v2:$IP:$MON_PORT
mon initial members = a
public network = $IP/32
public addr = $IP
cluster addr = $IP
# No cephx between the daemons: the cluster is private to this machine's loopback.
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
keyring = $DIR/keyring
# One OSD: a single copy, eight placement groups per pool, CRUSH may pick the only host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# The disk is shared with everything else; warn at 2 % free instead of 30 %.
mon data avail warn = 2
# Fail within 30 s, not 300 s, when the monitor cannot be reached.
client mount timeout = 30
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $LOGS/\$name.log
log to stderr = false
err to stderr = false

[mon]
mon data = $DIR/mon/\$cluster-\$id
admin socket = $DIR/run/\$name.asok
# Commit map changes every 0.1 s rather than every second: start takes ~8 s instead of ~22 s.
paxos propose interval = 0.1

[osd]
osd data = $DIR/osd/\$cluster-\$id
admin socket = $DIR/run/\$name.asok
osd objectstore = bluestore
# mkfs creates osd/ceph-0/block as a sparse file ("bluestore block path" must stay unset).
bluestore block create = true
bluestore block size = 21474836480
# The smallest value accepted; anything lower is ignored and the 4 GiB default applies.
osd memory target = 939524096

[client.rgw.a]
admin socket = $DIR/run/\$name.asok
rgw data = $DIR/rgw
rgw frontends = beast endpoint=$IP:$RGW_PORT
rgw thread pool size = 64
rgw init timeout = 60
# radosgw insists on "secure" monitor sessions by default, which auth none cannot provide.
ms mon client mode = crc secure
# Reclaim the space of deleted or overwritten objects after about a minute, not after hours.
rgw gc obj min wait = 60
rgw gc processor period = 60
rgw gc processor max time = 60
EOF
  mv "$CONF.new" "$CONF"
}

# Monitor and RADOS steps, through python3-rados: one short process instead of many `ceph` calls.
#   argv: CONF SECONDS ACTION [ARG]; ACTION is osd-new UUID | osd-up | pools
read -r -d '' RADOS_PY <<'PY' || true
import json, sys, time
import rados

conf, seconds, action, args = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
deadline = time.monotonic() + seconds
wait = str(max(1, min(30, int(seconds))))
cluster = rados.Rados(conffile=conf, name="client.admin",
                      conf={"client_mount_timeout": wait, "rados_mon_op_timeout": wait,
                            "rados_osd_op_timeout": str(max(1, int(seconds)))})
cluster.connect()

def mon(prefix, **params):
    ret, out, err = cluster.mon_command(json.dumps(dict(params, prefix=prefix, format="json")), b"")
    if ret != 0:
        sys.exit(f"{prefix}: {err} (error {ret})")
    return json.loads(out) if out.strip() else None

if action == "osd-new":
    answer = mon("osd new", uuid=args[0])
    print(answer["osdid"] if isinstance(answer, dict) else answer)
elif action == "osd-up":
    while not any(o["osd"] == 0 and o["up"] for o in mon("osd dump")["osds"]):
        if time.monotonic() > deadline:
            sys.exit("osd.0 did not come up")
        time.sleep(0.2)
elif action == "pools":
    # The pools radosgw would otherwise create one by one on first use (about 2 s each).
    pools = [".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
             "default.rgw.buckets.index", "default.rgw.buckets.data", "default.rgw.buckets.non-ec"]
    for pool in pools:
        if not cluster.pool_exists(pool):
            mon("osd pool create", pool=pool, pg_num=8, pgp_num=8)
            mon("osd pool application enable", pool=pool, app="rgw")
    for pool in pools:  # a write returns once the pool's placement groups are active
        with cluster.open_ioctx(pool) as io:
            io.set_namespace("oais-ceph-rgw-probe")
            io.write_full("probe", b"ok")
            io.remove_object("probe")
cluster.shutdown()
PY

# Wait until radosgw answers, then prove the keys with a SigV4-signed ListBuckets (stdlib only).
#   argv: ENDPOINT ACCESS_KEY SECRET_KEY REGION SECONDS
read -r -d '' S3_PY <<'PY' || true
import datetime, hashlib, hmac, sys, time, urllib.error, urllib.request

endpoint, access, secret, region, seconds = sys.argv[1:6]
deadline = time.monotonic() + float(seconds)
while True:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as answer:
            if answer.status == 200:
                break
    except (OSError, urllib.error.URLError):
        pass
    if time.monotonic() > deadline:
        sys.exit(f"radosgw does not answer on {endpoint}")
    time.sleep(0.1)

now = datetime.datetime.now(datetime.timezone.utc)
stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
host = endpoint.split("://", 1)[1]
empty = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
canonical = "\n".join(["GET", "/", "", f"host:{host}", f"x-amz-content-sha256:{empty}",
                       f"x-amz-date:{stamp}", "", signed, empty])
scope = f"{day}/{region}/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(endpoint + "/", headers={
    "x-amz-date": stamp, "x-amz-content-sha256": empty,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                     f"SignedHeaders={signed}, Signature={signature}"})
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
except urllib.error.HTTPError as exc:
    sys.exit(f"signed ListBuckets refused: HTTP {exc.code} {exc.read()[:300]!r}")
if b"<ListAllMyBucketsResult" not in body or b"<ID>anonymous</ID>" in body:
    sys.exit(f"signed ListBuckets gave an unexpected answer: {body[:300]!r}")
PY

rados_step() { # rados_step ACTION [ARG]
  local n
  n=$(left)
  timeout "$n" "$PY" -c "$RADOS_PY" "$CONF" "$n" "$@" 2>>"$LOGS/rados.out"
}

launch() { # launch KIND COMMAND...: start a daemon, which forks into the background by itself
  local kind=$1 _
  shift
  say "starting $kind"
  launched+=("$kind")
  timeout "$(left)" "$@" </dev/null >>"$LOGS/$kind.out" 2>&1 || die "$kind did not start (see $LOGS/$kind.out)"
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    running "$kind" && return 0
    sleep 0.2
  done
  die "$kind exited right after starting (see $LOGS)"
}

running() { [ -n "$(pids_of "$1")" ]; }

cmd_start() {
  set_dir "${1:-}"
  [ ${#DIR} -le 70 ] || die "$DIR is ${#DIR} characters long; at most 70 fit in Ceph's admin socket paths"
  trap on_start_exit EXIT
  trap 'die "interrupted"' INT TERM

  # Settings: recorded when the cluster is created, reused afterwards.
  local new=0
  if [ -f "$SETTINGS" ]; then
    # shellcheck source=/dev/null
    . "$SETTINGS"
    if [ "${OAIS_CEPH_RGW_PORT:-$RGW_PORT}" != "$RGW_PORT" ] || [ "${OAIS_CEPH_MON_PORT:-$MON_PORT}" != "$MON_PORT" ]; then
      say "note: $DIR keeps the ports it was created with (S3 $RGW_PORT, monitor $MON_PORT); purge it to change them"
    fi
  else
    new=1
    RGW_PORT=${OAIS_CEPH_RGW_PORT:-7480}
    MON_PORT=${OAIS_CEPH_MON_PORT:-3300}
    local p
    for p in "$RGW_PORT" "$MON_PORT"; do
      if ! [[ $p =~ ^[1-9][0-9]{0,4}$ ]] || [ "$p" -gt 65535 ]; then die "not a TCP port: '$p'"; fi
    done
    [ "$RGW_PORT" != "$MON_PORT" ] || die "the S3 and monitor ports must differ"
  fi

  # Ports first, before anything is installed or written.
  if ! running mon && port_in_use "$MON_PORT"; then
    die "monitor port $IP:$MON_PORT is already in use (choose another with OAIS_CEPH_MON_PORT)"
  fi
  if ! running rgw && port_in_use "$RGW_PORT"; then
    die "S3 port $IP:$RGW_PORT is already in use (choose another with OAIS_CEPH_RGW_PORT)"
  fi

  install_packages

  timeout_s=${OAIS_CEPH_START_TIMEOUT:-120}
  [[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "OAIS_CEPH_START_TIMEOUT must be a number of seconds"
  deadline=$((SECONDS + timeout_s))

  if [ "$new" = 1 ]; then
    if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
      die "$DIR is not empty and holds no cluster of this script: refusing to use it"
    fi
    mkdir -p "$DIR"
    chmod 700 "$DIR" # the keys are in it
    FSID=$(cat /proc/sys/kernel/random/uuid)
    OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
    ACCESS_KEY=$(random_key 20)
    SECRET_KEY=$(random_key 40)
    (
      umask 077
      printf '# Chosen when the cluster was created; read by ops/ceph-rgw.sh.\n'
      printf 'FSID=%s\nOSD_UUID=%s\nRGW_PORT=%s\nMON_PORT=%s\nACCESS_KEY=%s\nSECRET_KEY=%s\n' \
        "$FSID" "$OSD_UUID" "$RGW_PORT" "$MON_PORT" "$ACCESS_KEY" "$SECRET_KEY"
    ) >"$SETTINGS.new"
    mv "$SETTINGS.new" "$SETTINGS"
    say "creating a cluster in $DIR (S3 port $RGW_PORT, monitor port $MON_PORT)"
  else
    say "using the cluster in $DIR"
  fi
  mkdir -p "$DIR/run" "$LOGS" "$DIR/mon" "$DIR/osd" "$DIR/rgw"
  export CEPH_CONF=$CONF # for radosgw-admin
  write_conf

  # Monitor.
  if [ ! -s "$DIR/keyring" ]; then
    ceph-authtool --create-keyring "$DIR/keyring.new" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    chmod 600 "$DIR/keyring.new"
    mv "$DIR/keyring.new" "$DIR/keyring"
  fi
  if [ ! -e "$DIR/mon/ceph-a/created" ]; then
    rm -rf "$DIR/mon/ceph-a"
    monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:$IP:$MON_PORT]" "$DIR/monmap" >/dev/null
    timeout "$(left)" ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
      >>"$LOGS/mon-mkfs.out" 2>&1 || die "the monitor's mkfs failed"
    touch "$DIR/mon/ceph-a/created"
  fi
  running mon || launch mon ceph-mon -c "$CONF" -i a

  # OSD ("osd new" answers the same id again for the same UUID).
  local id
  id=$(rados_step osd-new "$OSD_UUID") || die "the monitor did not register the OSD (see $LOGS/rados.out)"
  [ "$id" = 0 ] || die "the monitor gave OSD id '$id', expected 0"
  if [ ! -e "$DIR/osd/ceph-0/ready" ]; then
    rm -rf "$DIR/osd/ceph-0"
    mkdir -p "$DIR/osd/ceph-0"
    say "creating the OSD's BlueStore"
    timeout "$(left)" ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$LOGS/osd-mkfs.out" 2>&1 ||
      die "the OSD's mkfs failed"
    [ -e "$DIR/osd/ceph-0/ready" ] || die "the OSD's mkfs did not finish"
  fi
  running osd || launch osd ceph-osd -c "$CONF" -i 0
  rados_step osd-up || die "osd.0 is not up (see $LOGS/osd.0.log)"

  # Pools, then the S3 user (radosgw-admin works on RADOS directly), then the gateway.
  say "preparing the gateway's pools"
  rados_step pools || die "the gateway's pools are not usable (see $LOGS/rados.out)"
  if ! timeout "$(left)" radosgw-admin user info --uid=oais-test >/dev/null 2>&1; then
    say "creating the S3 user oais-test"
    timeout "$(left)" radosgw-admin user create --uid=oais-test --display-name="oais tests" \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null 2>>"$LOGS/user.out" ||
      die "radosgw-admin user create failed"
  fi
  running rgw || launch rgw radosgw -c "$CONF" -n client.rgw.a
  local endpoint=http://$IP:$RGW_PORT
  timeout "$(left)" "$PY" -c "$S3_PY" "$endpoint" "$ACCESS_KEY" "$SECRET_KEY" us-east-1 "$(left)" \
    2>>"$LOGS/s3-check.out" || die "S3 check against $endpoint failed: $(tail -n 1 "$LOGS/s3-check.out")"
  running rgw || die "radosgw exited (see $LOGS/client.rgw.a.log)"

  printf 'OAIS_TEST_S3_ENDPOINT=%s\nOAIS_TEST_S3_ACCESS_KEY=%s\nOAIS_TEST_S3_SECRET_KEY=%s\nOAIS_TEST_S3_REGION=%s\n' \
    "$endpoint" "$ACCESS_KEY" "$SECRET_KEY" us-east-1 >"$S3ENV.new"
  mv "$S3ENV.new" "$S3ENV"
  trap - EXIT INT TERM
  say "ready: S3 on $endpoint (mon $(pids_of mon), osd $(pids_of osd), radosgw $(pids_of rgw))"
  cat "$S3ENV"
}

# --- stop, env, status ---------------------------------------------------------------------------

cmd_stop() {
  local purge=0 arg dir=
  for arg in "$@"; do
    case $arg in
      --purge) purge=1 ;;
      -*) usage ;;
      *)
        [ -z "$dir" ] || usage
        dir=$arg
        ;;
    esac
  done
  set_dir "$dir"
  if [ ! -d "$DIR" ]; then
    say "$DIR does not exist: nothing to stop"
    return 0
  fi
  local kind
  for kind in "${KINDS[@]}"; do stop_kind "$kind"; done
  rm -f "$DIR"/run/*.pid
  if [ "$purge" = 1 ]; then
    if [ -f "$SETTINGS" ] || [ -z "$(ls -A "$DIR")" ]; then
      rm -rf -- "$DIR"
      say "removed $DIR"
    else
      die "$DIR holds no cluster of this script: not removing it"
    fi
  fi
  say "stopped"
}

cmd_stop_rgw() {
  set_dir "${1:-}"
  [ -f "$SETTINGS" ] || die "no cluster in $DIR"
  stop_kind rgw
}

cmd_env() {
  set_dir "${1:-}"
  [ -s "$S3ENV" ] || die "no cluster was started in $DIR (bash ops/ceph-rgw.sh start $DIR)"
  cat "$S3ENV"
}

cmd_status() {
  set_dir "${1:-}"
  if [ ! -f "$SETTINGS" ]; then
    echo "no cluster in $DIR"
    return 3
  fi
  # shellcheck source=/dev/null
  . "$SETTINGS"
  local kind pids pid rss total=0 down=0
  echo "cluster   $DIR (S3 port $RGW_PORT, monitor port $MON_PORT)"
  for kind in mon osd rgw; do
    pids=$(pids_of "$kind" | tr '\n' ' ')
    if [ -n "$pids" ]; then
      for pid in $pids; do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${rss:-0}))
      done
      printf '%-9s running, pid %s\n' "$kind" "${pids% }"
    else
      printf '%-9s stopped\n' "$kind"
      down=1
    fi
  done
  if [ "$down" = 0 ] && port_in_use "$RGW_PORT"; then
    echo "S3        http://$IP:$RGW_PORT"
  else
    echo "S3        not answering on http://$IP:$RGW_PORT"
    down=1
  fi
  echo "memory    $((total / 1024)) MiB resident"
  echo "disk      $(du -sh "$DIR" 2>/dev/null | cut -f1) used in $DIR"
  [ "$down" = 0 ] || return 3
}

main() {
  [ $# -ge 1 ] || usage
  local cmd=$1
  shift
  case $cmd in
    start | stop-rgw | env | status) [ $# -le 1 ] || usage ;;
  esac
  case $cmd in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    stop-rgw) cmd_stop_rgw "$@" ;;
    env) cmd_env "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
