#!/usr/bin/env bash
# The Debian packages (ctest package.deb): `cpack -G DEB` of this build, then
#   - control fields: names, version, architecture, maintainer scripts and
#     conffiles; every Debian library a packaged program or library loads is
#     in its package's Depends (found by ldd and dpkg -S), and modelota-llama
#     when it loads llama.cpp;
#   - contents: the expected files, no test, bench or fuzz program;
#   - the systemd units: their sandboxing directives, `systemd-analyze verify`
#     (skipped, with a message, where systemd-analyze is missing) and the
#     offline exposure score of `systemd-analyze security`;
#   - the packages extracted into a scratch root (dpkg -x): every program
#     runs --help from there with the llama.cpp of the root, and a C program
#     links against the root's library with its pkg-config file.
# With `java` (a build with the Java binding), modelota-java too: the jar, its
# link and the JNI library, which loads the root's llama.cpp, and its Depends.
# Usage: deb_test.sh BUILD_DIR VERSION C_COMPILER [java]
set -euo pipefail
build_dir=$1
version=$2
cc=$3
with_java=${4:-}
src_dir=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/modelota-deb.XXXXXX")
trap 'rm -rf "${work}"' EXIT
fail() {
  echo "deb test: $*" >&2
  exit 1
}
step() { echo "== $*"; }

step "cpack -G DEB"
cpack -G DEB --config "${build_dir}/CPackConfig.cmake" -B "${work}/debs" >"${work}/cpack.log" 2>&1 ||
  { cat "${work}/cpack.log" >&2; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
deb_version="${version}-1"
deb() { echo "${work}/debs/$1_${deb_version}_${arch}.deb"; }
packages=(modelota-agent modelota-server modelota-cli modelota-llama)
[[ "${with_java}" == java ]] && packages+=(modelota-java)
for p in "${packages[@]}"; do
  [[ -f "$(deb "$p")" ]] || fail "no package $(basename "$(deb "$p")"): $(ls "${work}/debs")"
done
made=("${work}/debs"/*.deb)
[[ ${#made[@]} -eq ${#packages[@]} ]] || fail "packages other than ${packages[*]}: $(ls "${work}/debs")"

step "control fields and maintainer scripts"
for p in "${packages[@]}"; do
  [[ "$(dpkg-deb -f "$(deb "$p")" Package)" == "$p" ]] || fail "$p: wrong Package field"
  [[ "$(dpkg-deb -f "$(deb "$p")" Version)" == "${deb_version}" ]] || fail "$p: wrong Version"
  [[ "$(dpkg-deb -f "$(deb "$p")" Architecture)" == "${arch}" ]] || fail "$p: wrong Architecture"
  [[ -n "$(dpkg-deb -f "$(deb "$p")" Maintainer)" ]] || fail "$p: no Maintainer"
  [[ -n "$(dpkg-deb -f "$(deb "$p")" Description)" ]] || fail "$p: no Description"
done
for p in modelota-agent modelota-server; do
  dpkg-deb -e "$(deb "$p")" "${work}/control-$p"
  for script in postinst prerm postrm; do
    [[ -x "${work}/control-$p/${script}" ]] || fail "$p: no executable ${script}"
    sh -n "${work}/control-$p/${script}" || fail "$p: ${script} is not valid sh"
  done
  grep -q '^/etc/default/ota-' "${work}/control-$p/conffiles" || fail "$p: option file not a conffile"
  grep -q 'systemd-sysusers' "${work}/control-$p/postinst" || fail "$p: postinst makes no user"
done

step "contents"
# expect_files PACKAGE FILE...: the package's regular files and links are exactly these.
expect_files() {
  local p=$1 actual expected
  shift
  actual=$(dpkg-deb --fsys-tarfile "$(deb "$p")" | tar -t | grep -v '/$' | sed 's|^\./|/|' | sort)
  expected=$(printf '%s\n' "$@" | sort)
  [[ "${actual}" == "${expected}" ]] ||
    fail "$p: contents differ from the expected list:"$'\n'"$(diff <(echo "${expected}") <(echo "${actual}"))"
}
archives=()
for m in agent bundle common common_crypto common_http common_sqlite manifest rollout runtime_adapter shadow \
  verifier; do
  archives+=("/usr/lib/libmodelota_${m}.a")
done
expect_files modelota-agent /etc/default/ota-agentd /usr/bin/ota-agent /usr/bin/ota-agentd \
  /usr/include/ota/agent.h /usr/include/ota/module.modulemap \
  /usr/lib/cmake/ModelOTA/ModelOTAConfig.cmake \
  /usr/lib/cmake/ModelOTA/ModelOTAConfigVersion.cmake /usr/lib/cmake/ModelOTA/ModelOTATargets.cmake \
  "/usr/lib/cmake/ModelOTA/$(cd "${build_dir}" && ls CMakeFiles/Export/*/ModelOTATargets-*.cmake |
    xargs -n1 basename)" \
  "${archives[@]}" /usr/lib/pkgconfig/modelota-agent.pc /usr/lib/systemd/system/ota-agentd.service \
  /usr/lib/sysusers.d/modelota-agent.conf /usr/share/doc/modelota-agent/packaging.md
expect_files modelota-server /etc/default/ota-server /usr/bin/ota-server \
  /usr/lib/systemd/system/ota-server.service /usr/lib/sysusers.d/modelota-server.conf \
  /usr/share/doc/modelota-server/packaging.md
expect_files modelota-cli /usr/bin/otactl /usr/bin/ota-tuf-client
if [[ "${with_java}" == java ]]; then
  expect_files modelota-java "/usr/share/java/modelota-${version}.jar" \
    /usr/share/java/modelota.jar /usr/lib/jni/libmodelota_jni.so
  jre="default-jre-headless | java8-runtime-headless"
  [[ "$(dpkg-deb -f "$(deb modelota-java)" Depends)" == *"${jre}"* ]] ||
    fail "modelota-java: no JRE (${jre}) in Depends"
fi
llama_files=$(dpkg-deb --fsys-tarfile "$(deb modelota-llama)" | tar -t | grep -v '/$')
grep -q '^./usr/lib/modelota/llama/lib/libllama.so.0$' <<<"${llama_files}" ||
  fail "modelota-llama: no libllama.so.0"
grep -qv '^./usr/lib/modelota/llama/' <<<"${llama_files}" &&
  fail "modelota-llama: files outside /usr/lib/modelota/llama"

root=${work}/root
for p in "${packages[@]}"; do dpkg -x "$(deb "$p")" "${root}"; done
if [[ "${with_java}" == java ]]; then
  [[ "$(readlink "${root}/usr/share/java/modelota.jar")" == "modelota-${version}.jar" ]] ||
    fail "modelota-java: /usr/share/java/modelota.jar does not link to modelota-${version}.jar"
fi

step "systemd units"
"${src_dir}/check_units.sh" "${root}" "${work}/units"

step "the programs run from the scratch root"
for program in ota-agent ota-agentd otactl ota-server ota-tuf-client; do
  "${root}/usr/bin/${program}" --help >"${work}/help.txt" 2>&1 ||
    { cat "${work}/help.txt" >&2; fail "${program} --help failed"; }
done
# The resident supervisor loads none of the agent's heavy libraries: they
# load only in the check it starts (its idle memory, lifecycle_bench).
resident_libs=$(ldd "${root}/usr/bin/ota-agentd")
for heavy in libllama libcurl libsqlite3 libzstd; do
  [[ "${resident_libs}" != *"${heavy}"* ]] ||
    fail "ota-agentd loads ${heavy}, which only its checks need: ${resident_libs}"
done
llama_users=(bin/ota-agent bin/otactl)
[[ "${with_java}" == java ]] && llama_users+=(lib/jni/libmodelota_jni.so)
for file in "${llama_users[@]}"; do
  llama=$(ldd "${root}/usr/${file}" | sed -n 's/.*libllama.so.0 => \([^ ]*\) .*/\1/p')
  [[ -n "${llama}" && "$(realpath "${llama}")" == "${root}/usr/lib/modelota/llama/lib/"* ]] ||
    fail "${file} does not load the packaged llama.cpp: $(ldd "${root}/usr/${file}")"
done

step "Depends cover every library the packaged files load"
"${src_dir}/check_depends.sh" "${root}" "${work}/debs" "${deb_version}" "${arch}"

step "a C program links against the packaged library (pkg-config)"
pc_flags=$(PKG_CONFIG_PATH="${root}/usr/lib/pkgconfig" pkg-config --cflags --libs --static \
  modelota-agent)
# shellcheck disable=SC2086  # the flags are words
"${cc}" -std=c11 -o "${work}/consumer" "${src_dir}/consumer/main.c" ${pc_flags} ||
  fail "linking against the packaged library failed"
set +e
"${work}/consumer" >/dev/null 2>&1
rc=$?
set -e
[[ ${rc} -eq 2 ]] || fail "the linked program did not run (exit ${rc}, expected its usage exit 2)"
echo "deb test: passed ($(cd "${work}/debs" && du -k ./*.deb | awk '{printf "%s %d KiB; ", $2, $1}'))"
