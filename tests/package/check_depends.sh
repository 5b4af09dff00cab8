#!/usr/bin/env bash
# check_depends.sh ROOT DEBS DEB_VERSION ARCH: for every program and shared
# library of every package extracted in ROOT, each library it names (NEEDED,
# resolved by ldd) is
# either in ROOT (then it is modelota-llama's, and the package depends on
# modelota-llama (= DEB_VERSION)) or belongs to a Debian package (dpkg -S)
# named in the package's Depends. Used by deb_test.sh.
set -euo pipefail
root=$1
debs=$2
deb_version=$3
arch=$4
fail() {
  echo "deb test: $*" >&2
  exit 1
}
# The paths of the libraries FILE names itself (DT_NEEDED), as ldd resolves
# them; what those load in turn is their own packages' business.
direct_libraries() {
  local needed resolved name
  needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  resolved=$(ldd "$1")
  for name in ${needed}; do
    awk -v n="${name}" '$1 == n && $2 == "=>" { print $3 } $1 ~ "/" n "$" { print $1 }' \
      <<<"${resolved}"
  done
}
checked=0
declare -A owners
# owners[PATH]: the Debian package holding library PATH (merged /usr: dpkg
# knows it by one of its two paths), looked up once: dpkg -S is slow.
find_owner() {
  if [[ -z "${owners[$1]:-}" ]]; then
    owners[$1]=$(dpkg -S "$1" 2>/dev/null | head -1 | cut -d: -f1) ||
      owners[$1]=$(dpkg -S "$(realpath "$1")" 2>/dev/null | head -1 | cut -d: -f1) || true
  fi
}
for deb in "${debs}"/*.deb; do
  package=$(dpkg-deb -f "${deb}" Package)
  depends=$(dpkg-deb -f "${deb}" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//')
  while IFS= read -r file; do
    path=${root}/${file#./}
    [[ -L "${path}" ]] && continue
    [[ "$(head -c 4 "${path}" | tail -c 3)" == ELF ]] || continue
    while IFS= read -r lib; do
      [[ -n "${lib}" ]] || continue
      if [[ "${lib}" == "${root}"/* ]]; then
        lib=$(realpath "${lib}")
        [[ "${lib}" == "${root}/usr/lib/modelota/llama/lib/"* ]] ||
          fail "${file} loads ${lib}, which no package should hold"
        [[ "${package}" == modelota-llama ]] ||
          dpkg-deb -f "${deb}" Depends | grep -qF "modelota-llama (= ${deb_version})" ||
          fail "${package}: ${file} loads llama.cpp but does not depend on modelota-llama"
        continue
      fi
      find_owner "${lib}"
      owner=${owners[${lib}]}
      [[ -n "${owner}" ]] || fail "${file}: no Debian package holds ${lib}"
      grep -qxF "${owner}" <<<"${depends}" ||
        fail "${package}: ${file} loads ${lib} of ${owner}, missing from Depends"
      checked=$((checked + 1))
    done < <(direct_libraries "${path}")
  done < <(dpkg-deb --fsys-tarfile "${deb}" | tar -t | grep -E '/bin/|\.so')
done
[[ ${checked} -gt 20 ]] || fail "only ${checked} libraries checked: the check is broken"
echo "Depends of $(ls "${debs}"/*.deb | wc -l) packages cover the ${checked} Debian libraries their files name"

