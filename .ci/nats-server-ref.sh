#!/usr/bin/env bash
# Prints the path of a reference nats-server binary of one release line, downloaded once from
# Debian's archive and unpacked into a cache (dpkg -x: nothing gets installed). It lives in the
# repository so that a fresh clone (CI) can fetch the references itself; .ci/run and the test
# helper referenceBinary() call it. The cache layout is the one of the team's shared copy
# (~/.cache/nats-ref/<suite>/<version>/nats-server), so either one finds what the other fetched.
#   nats-server-ref.sh [latest|2.15]   Debian sid's nats-server (2.15.x)
#   nats-server-ref.sh 2.10            Debian trixie's (2.10.x)
#   nats-server-ref.sh 2.9             the installed 2.9 package if there is one, else bookworm's
set -euo pipefail
line=${1:-latest}
case "$line" in
  latest | 2.15 | 2.15.*) suite=sid ;;
  2.10 | 2.10.*) suite=trixie ;;
  2.9 | 2.9.*) suite=bookworm ;;
  *)
    echo "usage: $0 [latest|2.15|2.10|2.9]" >&2
    exit 2
    ;;
esac
if [ "$suite" = bookworm ] && command -v nats-server >/dev/null && nats-server --version | grep -q 'v2\.9\.'; then
  command -v nats-server
  exit 0
fi
cache=${NATS_REF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nats-ref}
cached() { ls -d "$cache/$suite"/*/nats-server 2>/dev/null | sort -V | tail -1 || true; }
bin=$(cached)
if [ -z "$bin" ]; then
  # A private apt configuration: only this suite's list, kept in the cache, no lock on the system's.
  apt_dir="$cache/apt"
  lists="$apt_dir/lists-$suite"
  mkdir -p "$lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb http://deb.debian.org/debian $suite main" >"$apt_dir/sources-$suite.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources-$suite.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" update >/dev/null 2>&1 || {
    echo "could not read Debian $suite package list" >&2
    exit 1
  }
  version=$(apt-cache "${apt_opts[@]}" show nats-server 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -V | tail -1)
  [ -n "$version" ] || {
    echo "no nats-server in Debian $suite" >&2
    exit 1
  }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get "${apt_opts[@]}" download "nats-server=$version" >/dev/null 2>&1) || {
    echo "download of nats-server $version failed" >&2
    exit 1
  }
  dest="$cache/$suite/${version%%-*}"
  mkdir -p "$dest"
  dpkg -x "$work"/nats-server_*.deb "$work/unpacked"
  # Copied under another name and renamed: a parallel caller never sees half a binary.
  cp "$work/unpacked/usr/sbin/nats-server" "$dest/nats-server.part.$$"
  mv "$dest/nats-server.part.$$" "$dest/nats-server"
  bin="$dest/nats-server"
fi
echo "$bin"
