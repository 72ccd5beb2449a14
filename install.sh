#!/usr/bin/env bash
# Builds twitcher and installs it: PREFIX/bin/twitcher, PREFIX/bin/twitcherctl (a link to
# the same binary), the man pages and shell completions. Builds a static musl binary
# where it can. Idempotent.
#
#   ./install.sh [--prefix DIR] [--no-static] [--run]
#
#   --prefix DIR  where to install (default: /usr/local as root, else ~/.local)
#   --no-static   build for the host target instead of static musl
#   --run         start `twitcher serve` from the installed binary when done (it reads the
#                 TWITCHER_* variables, e.g. TWITCHER_BIND=127.0.0.1:8080 for another port)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Where the script was started: a relative --prefix and the server's state are there.
caller="$PWD"
if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
static=1
run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || set -- "$1" ""; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --no-static) static=0; shift ;;
    --run) run=1; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'install.sh: %s\n' "$*" >&2; }
[ -n "$prefix" ] || { say "--prefix needs a folder"; exit 2; }
case "$prefix" in
  /*) ;;
  *) prefix="$caller/$prefix" ;;
esac
command -v cargo >/dev/null || { say "cargo is missing: install Rust from https://rustup.rs"; exit 1; }
cd "$here"

# build [cargo args]: builds the release binary and prints its path, wherever the
# target folder is (CARGO_TARGET_DIR, .cargo/config.toml).
build() {
  cargo build --release --locked --bin twitcher --message-format=json-render-diagnostics "$@" \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1 | grep .
}

bin=""
if [ "$static" = 1 ]; then
  target="$(uname -m)-unknown-linux-musl"
  if ! command -v musl-gcc >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing musl-tools for a static build"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null; } \
        || say "could not install musl-tools"
    fi
  fi
  if command -v musl-gcc >/dev/null; then
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
      rustup target add "$target" >/dev/null 2>&1 || say "could not add the $target target"
    fi
    if bin=$(build --target "$target"); then
      :
    else
      say "the static $target build failed"
    fi
  else
    say "musl-gcc not found (install musl-tools, or run as root to let this script do it)"
  fi
  [ -n "$bin" ] || say "falling back to a build for the host target: the binary links to the system's libc"
fi
if [ -z "$bin" ]; then
  bin=$(build)
fi

install -d "$prefix/bin" "$prefix/share/man/man1"
install -m 0755 "$bin" "$prefix/bin/twitcher.new"
mv -f "$prefix/bin/twitcher.new" "$prefix/bin/twitcher"
ln -sfn twitcher "$prefix/bin/twitcherctl"
for page in man/*.1; do
  install -m 0644 "$page" "$prefix/share/man/man1/"
done
# Shell completions, rendered by the installed binary from its flag tables.
bash_dir="$prefix/share/bash-completion/completions"
zsh_dir="$prefix/share/zsh/site-functions"
fish_dir="$prefix/share/fish/vendor_completions.d"
install -d "$bash_dir" "$zsh_dir" "$fish_dir"
for p in twitcher twitcherctl; do
  "$prefix/bin/twitcher" completions bash "$p" > "$bash_dir/$p"
  "$prefix/bin/twitcher" completions fish "$p" > "$fish_dir/$p.fish"
done
"$prefix/bin/twitcher" completions zsh > "$zsh_dir/_twitcher"
case "$("$prefix/bin/twitcherctl" --version 2>/dev/null)" in
  "twitcherctl "*) ;;
  *) say "$prefix/bin/twitcherctl does not run as twitcherctl"; exit 1 ;;
esac
linkage=$( (file -b "$prefix/bin/twitcher" 2>/dev/null || true) | grep -o 'static-pie linked\|statically linked\|dynamically linked' || true)
say "installed $prefix/bin/twitcher (${linkage:-binary}), $prefix/bin/twitcherctl, the man pages and shell completions"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) say "note: $prefix/bin is not on your PATH" ;;
esac
if [ "$run" = 1 ]; then
  cd "$caller"
  say "starting: $prefix/bin/twitcher serve (state in $caller/twitcher.sqlite; Ctrl-C stops it)"
  exec "$prefix/bin/twitcher" serve
fi
