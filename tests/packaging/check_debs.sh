#!/usr/bin/env bash
# Builds the Debian packages of a build tree and checks their contents and control data.
# Usage: check_debs.sh BUILD_DIR OUT_DIR VERSION
set -euo pipefail
build=$1 out=$2 version=$3

command -v dpkg-deb >/dev/null || { echo "SKIP: dpkg-deb not installed"; exit 77; }
command -v dpkg-shlibdeps >/dev/null || { echo "SKIP: dpkg-shlibdeps (dpkg-dev) not installed"; exit 77; }

fail=0
check() {  # check DESCRIPTION COMMAND...: runs a predicate, records a failure
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

lacks() { ! grep -Eq "$1" <<<"$2"; }

rm -rf "$out"
mkdir -p "$out"
(cd "$build" && cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake") >"$out/cpack.log" 2>&1 || {
  cat "$out/cpack.log"
  echo "FAIL: cpack -G DEB"
  exit 1
}

arch=$(dpkg --print-architecture)
for pkg in tachyon-agent tachyon-controller tachyon; do
  deb="$out/${pkg}_${version}-1_${arch}.deb"
  check "$pkg: $deb exists" test -f "$deb"
  [[ -f "$deb" ]] || continue
  contents=$(dpkg-deb -c "$deb")
  info=$(dpkg-deb -I "$deb")
  has_file() { grep -Eq "^$1 .* \./$2\$" <<<"$contents"; }
  has_field() { grep -Eq "^ $1" <<<"$info"; }
  conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
  check "$pkg: Package: $pkg" has_field "Package: $pkg\$"
  check "$pkg: Version: $version-1" has_field "Version: $version-1\$"
  check "$pkg: Architecture: $arch" has_field "Architecture: $arch\$"
  check "$pkg: Maintainer" has_field "Maintainer: .+"
  # dpkg-shlibdeps names the library packages the binary links.
  check "$pkg: Depends on libc6, gRPC, Protobuf, Abseil, yaml-cpp, OpenSSL" \
    has_field "Depends: .*libc6.*"
  for lib in 'libgrpc\+\+1\.51' libprotobuf32 'libabsl20220623' 'libyaml-cpp0\.7' libssl3; do
    check "$pkg: Depends names $lib" has_field "Depends: .*$lib"
  done
  case $pkg in
    tachyon-agent) bin=tachyon-agent conf=agent.yaml unit=tachyon-agent.service ;;
    tachyon-controller) bin=tachyon-controller conf=controller.yaml unit=tachyon-controller.service ;;
    tachyon) bin=tachyon conf=cli.yaml unit= ;;
  esac
  check "$pkg: /usr/bin/$bin, executable" has_file '-rwxr-xr-x root/root' "usr/bin/$bin"
  check "$pkg: /etc/tachyon/$conf" has_file '-rw-r--r-- root/root' "etc/tachyon/$conf"
  check "$pkg: conffiles lists /etc/tachyon/$conf" grep -qx "/etc/tachyon/$conf" <<<"$conffiles"
  if [[ -n $unit ]]; then
    check "$pkg: /lib/systemd/system/$unit" has_file '-rw-r--r-- root/root' "lib/systemd/system/$unit"
    for script in postinst prerm postrm; do
      # "  1803 bytes,  44 lines   *  postinst   #!/bin/sh": the * marks it executable.
      check "$pkg: maintainer script $script (executable)" grep -Eq "[*] +$script +#!/bin/sh" <<<"$info"
    done
  fi
  # Every binary is stripped: the RelWithDebInfo ones are mostly debug information.
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  check "$pkg: /usr/bin/$bin is stripped" lacks 'not stripped' "$(file "$tmp/usr/bin/$bin")"
  check "$pkg: /usr/bin/$bin --version" grep -q "$version" <<<"$("$tmp/usr/bin/$bin" --version)"
  if [[ $pkg == tachyon-agent ]] && grep -q 'usr/bin/tachyon-shim$' <<<"$contents"; then
    check "$pkg: /usr/bin/tachyon-shim, executable" has_file '-rwxr-xr-x root/root' usr/bin/tachyon-shim
  fi
  rm -rf "$tmp"
done

ctl_deps=$(dpkg-deb -f "$out/tachyon-controller_${version}-1_${arch}.deb" Depends)
check "tachyon-controller: Depends on libsqlite3-0" grep -q libsqlite3-0 <<<"$ctl_deps"
check "tachyon-controller: Depends on adduser" grep -q adduser <<<"$ctl_deps"
cli_deps=$(dpkg-deb -f "$out/tachyon_${version}-1_${arch}.deb" Depends)
check "tachyon (CLI): no SQLite (it never opens the database)" lacks libsqlite3 "$cli_deps"
agent_deps=$(dpkg-deb -f "$out/tachyon-agent_${version}-1_${arch}.deb" Depends)
check "tachyon-agent: no SQLite" lacks libsqlite3 "$agent_deps"

unit() { dpkg-deb --fsys-tarfile "$out/$1_${version}-1_${arch}.deb" | tar -xOf - "./lib/systemd/system/$1.service"; }
agent_unit=$(unit tachyon-agent)
ctl_unit=$(unit tachyon-controller)
for line in 'KillMode=process' 'Delegate=yes' 'Restart=on-failure' 'NoNewPrivileges=no' \
    'ExecStart=/usr/bin/tachyon-agent --config /etc/tachyon/agent.yaml'; do
  check "agent unit: $line" grep -qx "$line" <<<"$agent_unit"
done
check "agent unit: no ProtectSystem/PrivateTmp (jobs install packages, write /etc, use /tmp)" \
  lacks '^(ProtectSystem|PrivateTmp|ProtectHome)=' "$agent_unit"
for line in 'User=tachyon' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' \
    'ReadWritePaths=/var/lib/tachyon-controller' 'Restart=on-failure' 'LimitNOFILE=65536' \
    'ExecStart=/usr/bin/tachyon-controller --config /etc/tachyon/controller.yaml'; do
  check "controller unit: $line" grep -qx "$line" <<<"$ctl_unit"
done
if command -v systemd-analyze >/dev/null; then
  tmp=$(mktemp -d)
  for p in tachyon-agent tachyon-controller; do dpkg-deb -x "$out/${p}_${version}-1_${arch}.deb" "$tmp"; done
  # verify resolves ExecStart= against the real /usr/bin, so only the unit syntax is judged.
  verify=$(systemd-analyze verify "$tmp"/lib/systemd/system/*.service 2>&1 |
    grep -v 'is not executable\|No such file\|Failed to connect\|bus' || true)
  check "units pass systemd-analyze verify${verify:+: $verify}" test -z "$verify"
  rm -rf "$tmp"
fi
# Shell syntax of every maintainer script.
for pkg in tachyon-agent tachyon-controller; do
  tmp=$(mktemp -d)
  dpkg-deb -e "$out/${pkg}_${version}-1_${arch}.deb" "$tmp"
  for script in postinst prerm postrm; do check "$pkg $script: sh -n" sh -n "$tmp/$script"; done
  rm -rf "$tmp"
done

exit $fail
