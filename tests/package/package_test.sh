#!/usr/bin/env bash
# The installed package, used as an app would use it (ctest package.install):
#   1. `cmake --install` of this build into a fresh prefix; the programs, the
#      C API header, the CMake package and the pkg-config file are there, no
#      test program is, and no RUNPATH points outside the prefix;
#   2. tests/package/consumer (a C program) is built twice outside the tree:
#      with CMake (find_package(ModelOTA), ModelOTA::agent) and with plain cc
#      and `pkg-config --static --libs modelota-agent`;
#   3. package-fixture starts the installed ota-server with a repository made
#      by the installed otactl; the CMake-built consumer enrolls a device with
#      the installed ota-agent and watches it install chat 1.0.0 through the
#      C API, then the pkg-config-built one watches the update to 1.1.0;
#   4. both builds then install 1.1.0 themselves, in process, into new state
#      folders through the C API's in-process updater (no ota-agent);
#   5. with JAVA and JAVAC (a build with the Java binding): the jar is in
#      share/java and the JNI library in lib/jni, and
#      tests/package/consumer/JavaConsumer.java, compiled against the
#      installed jar and run with the installed JNI library only, installs
#      1.1.0 in its own process too.
# Usage: package_test.sh BUILD_DIR PACKAGE_FIXTURE C_COMPILER [JAVA JAVAC]
set -euo pipefail
build_dir=$1
fixture=$2
cc=$3
java=${4:-}
javac=${5:-}
consumer_src=$(cd "$(dirname "$0")/consumer" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/modelota-package.XXXXXX")
cleanup() {
  if [[ -n "${fixture_pid:-}" ]]; then
    # The end of its stdin stops the fixture and its server.
    eval "exec ${fixture_in}>&-" 2>/dev/null || true
    wait "${fixture_pid}" || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT
fail() {
  echo "package test: $*" >&2
  exit 1
}
step() { echo "== $*"; }

prefix=${work}/prefix
step "cmake --install ${build_dir} --prefix ${prefix}"
cmake --install "${build_dir}" --prefix "${prefix}" >"${work}/install.log" ||
  { cat "${work}/install.log" >&2; fail "cmake --install failed"; }

for f in bin/ota-agentd bin/ota-agent bin/otactl bin/ota-server bin/ota-tuf-client \
  include/ota/agent.h include/ota/module.modulemap lib/libmodelota_agent.a lib/cmake/ModelOTA/ModelOTAConfig.cmake \
  lib/cmake/ModelOTA/ModelOTAConfigVersion.cmake lib/cmake/ModelOTA/ModelOTATargets.cmake \
  lib/pkgconfig/modelota-agent.pc lib/systemd/system/ota-agentd.service \
  lib/systemd/system/ota-server.service lib/sysusers.d/modelota-agent.conf \
  lib/sysusers.d/modelota-server.conf etc/default/ota-agentd etc/default/ota-server; do
  [[ -e "${prefix}/${f}" ]] || fail "not installed: ${f}"
done
if [[ -n "${java}" ]]; then
  jar=${prefix}/share/java/modelota.jar
  jni_dir=${prefix}/lib/jni
  [[ -f "${jar}" ]] || fail "not installed: share/java/modelota.jar"
  [[ -L "${jar}" && "$(readlink "${jar}")" == modelota-*.jar ]] ||
    fail "share/java/modelota.jar is not a link to the versioned jar"
  [[ -f "${jni_dir}/libmodelota_jni.so" ]] || fail "not installed: lib/jni/libmodelota_jni.so"
elif [[ -e "${prefix}/share/java" || -e "${prefix}/lib/jni" ]]; then
  fail "a Java binding installed by a build that has none"
fi
programs=$(cd "${prefix}/bin" && ls | tr '\n' ' ')
[[ "${programs}" == "ota-agent ota-agentd ota-server ota-tuf-client otactl " ]] ||
  fail "unexpected programs in bin/: ${programs}"
if find "${prefix}" -name '*_test*' -o -name '*bench*' -o -name '*fuzz*' | grep -q .; then
  fail "test, bench or fuzz files installed: $(find "${prefix}" -name '*_test*' -o -name '*bench*')"
fi
[[ -z "$(find "${prefix}/include" -type f ! -path '*/include/ota/agent.h' \
  ! -path '*/include/ota/module.modulemap')" ]] ||
  fail "headers other than ota/agent.h (and its module map) installed in include/"
while IFS= read -r elf; do
  runpath=$(readelf -d "${elf}" | sed -n 's/.*R\(UN\)\?PATH.*\[\(.*\)\]/\2/p')
  [[ -z "${runpath}" || "${runpath}" == '$ORIGIN'* ]] ||
    fail "${elf#"${prefix}"/} has a RUNPATH outside the prefix: ${runpath}"
done < <(find "${prefix}/bin" "${prefix}/lib" -type f \( -perm -u+x -o -name '*.so*' \))

step "consumer: cmake, find_package(ModelOTA), ModelOTA::agent"
cmake -S "${consumer_src}" -B "${work}/consumer-cmake" -G Ninja -DCMAKE_C_COMPILER="${cc}" \
  -DCMAKE_PREFIX_PATH="${prefix}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"${work}/consumer-cmake.log" 2>&1 ||
  { cat "${work}/consumer-cmake.log" >&2; fail "consumer configure failed"; }
cmake --build "${work}/consumer-cmake" >>"${work}/consumer-cmake.log" 2>&1 ||
  { cat "${work}/consumer-cmake.log" >&2; fail "consumer build (CMake) failed"; }

step "consumer: ${cc} \$(pkg-config --cflags --libs --static modelota-agent)"
pc_flags=$(PKG_CONFIG_PATH="${prefix}/lib/pkgconfig" pkg-config --cflags --libs --static \
  modelota-agent) || fail "pkg-config cannot read modelota-agent.pc"
# shellcheck disable=SC2086  # the flags are words
"${cc}" -std=c11 -o "${work}/consumer-pc" "${consumer_src}/main.c" ${pc_flags} ||
  fail "consumer build (pkg-config) failed"

step "the C API as a Clang module (module.modulemap, what Swift imports)"
command -v clang >/dev/null || fail "clang is missing (scripts/setup installs it)"
# shellcheck disable=SC2086  # the flags are words
clang -x objective-c -fmodules -fmodules-cache-path="${work}/module-cache" \
  -fmodule-map-file="${prefix}/include/ota/module.modulemap" -c \
  "${consumer_src}/module_check.m" -o "${work}/module_check.o" ||
  fail "the installed module map does not import"
# shellcheck disable=SC2086
clang -o "${work}/module-check" "${work}/module_check.o" ${pc_flags} ||
  fail "a program importing the module does not link with the pkg-config flags"
"${work}/module-check" || fail "the program importing the module did not run as expected"

step "a real update through the installed programs, watched through the C API"
coproc FIXTURE { exec "${fixture}" "${prefix}"; }
fixture_pid=${FIXTURE_PID}
fixture_in=${FIXTURE[1]}
fixture_out=${FIXTURE[0]}
# read_until_ready: sets url, root, token_file, state, id, version.
read_until_ready() {
  local line
  while IFS= read -r -u "${fixture_out}" line; do
    [[ "${line}" == ready ]] && return 0
    printf -v "${line%%=*}" '%s' "${line#*=}"
  done
  fail "package-fixture ended before it was ready"
}
read_until_ready
"${work}/consumer-cmake/consumer" "${prefix}/bin/ota-agent" "${state}" "${url}" "${root}" \
  "${token_file}" "${id}" "${version}" init || fail "first install (CMake-built consumer) failed"
[[ "${version}" == 1.0.0 ]] || fail "fixture published ${version}, expected 1.0.0"

echo next >&"${fixture_in}"
read_until_ready
"${work}/consumer-pc" "${prefix}/bin/ota-agent" "${state}" "${url}" "${root}" \
  "${token_file}" "${id}" "${version}" || fail "update (pkg-config-built consumer) failed"
[[ "${version}" == 1.1.0 ]] || fail "fixture published ${version}, expected 1.1.0"

step "a real update in the app's own process (the in-process updater), both builds"
"${work}/consumer-cmake/consumer" --embedded "${work}/app-state-cmake" "${url}" "${root}" \
  "${token_file}" "${id}" "${version}" || fail "in-process update (CMake-built consumer) failed"
"${work}/consumer-pc" --embedded "${work}/app-state-pc" "${url}" "${root}" \
  "${token_file}" "${id}" "${version}" || fail "in-process update (pkg-config-built consumer) failed"

if [[ -n "${java}" ]]; then
  step "the same in a JVM: the installed modelota.jar and lib/jni/libmodelota_jni.so"
  "${javac}" --release 8 -Xlint:all -Werror -encoding UTF-8 -cp "${jar}" \
    -d "${work}/java-consumer" "${consumer_src}/JavaConsumer.java" ||
    fail "the Java consumer does not compile against the installed jar"
  # Only the installed files: the jar and the consumer on the class path, the
  # installed JNI folder as the whole library path. -Xcheck:jni reports the
  # library's JNI misuse, which fails the test.
  "${java}" -Xcheck:jni -cp "${jar}:${work}/java-consumer" -Djava.library.path="${jni_dir}" \
    JavaConsumer "${work}/app-state-java" "${url}" "${root}" "${token_file}" "${id}" \
    "${version}" >"${work}/java-consumer.log" 2>&1 ||
    { cat "${work}/java-consumer.log" >&2; fail "in-process update (Java consumer) failed"; }
  cat "${work}/java-consumer.log"
  if grep -E 'WARNING in native method|WARNING: JNI local refs|FATAL ERROR in native method' \
    "${work}/java-consumer.log"; then
    fail "the JVM's JNI check warned about the installed library"
  fi
fi
echo "package test: passed"
