#!/usr/bin/env bash
# check_units.sh ROOT WORK: the systemd units in ROOT/usr/lib/systemd/system
# carry the sandboxing of docs/packaging.md, pass `systemd-analyze verify`
# with no message at all (with their programs' paths pointed into ROOT), and
# prints each unit's offline exposure score (`systemd-analyze security`).
# Without systemd-analyze, the verify and score steps are skipped with a
# message. Used by deb_test.sh.
set -euo pipefail
root=$1
work=$2
fail() {
  echo "deb test: $*" >&2
  exit 1
}
mkdir -p "${work}"
required=(
  "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "NoNewPrivileges=yes"
  "CapabilityBoundingSet=" "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"
  "SystemCallFilter=@system-service" "LockPersonality=yes" "MemoryDenyWriteExecute=yes"
  "Restart=on-failure" "RestartPreventExitStatus=2"
)
declare -A state_dir=([ota-agentd]=modelota [ota-server]=ota-server)
declare -A user=([ota-agentd]=modelota [ota-server]=ota-server)
for unit in ota-agentd ota-server; do
  file=${root}/usr/lib/systemd/system/${unit}.service
  [[ -f "${file}" ]] || fail "no ${unit}.service"
  for line in "${required[@]}" "StateDirectory=${state_dir[$unit]}" "User=${user[$unit]}" \
    "EnvironmentFile=-/etc/default/${unit}"; do
    grep -qxF "${line}" "${file}" || fail "${unit}.service lacks '${line}'"
  done
  grep -q "^ExecStart=/usr/bin/${unit} " "${file}" || fail "${unit}.service: ExecStart"
  grep -q '^ReadWritePaths=' "${file}" && fail "${unit}.service opens more than its StateDirectory"
  grep -q "u ${user[$unit]} " "${root}"/usr/lib/sysusers.d/*.conf || fail "no sysusers entry"
  sed -e "s|/usr/bin/|${root}/usr/bin/|g" -e "s|/etc/default/|${root}/etc/default/|" \
    "${file}" >"${work}/${unit}.service"
done

if command -v systemd-sysusers >/dev/null 2>&1; then
  # What the postinst scripts run, here against the scratch root.
  systemd-sysusers --root="${root}" >/dev/null 2>&1 || fail "systemd-sysusers failed"
  for name in modelota ota-server; do
    grep -q "^${name}:x:[0-9]*:[0-9]*:ModelOTA .*:/var/lib/${name}:" \
      "${root}/etc/passwd" || fail "systemd-sysusers made no user ${name}"
  done
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "deb test: systemd-analyze not found: unit verification SKIPPED (install systemd)"
  exit 0
fi
verify_out=$(systemd-analyze verify --man=no "${work}/ota-agentd.service" \
  "${work}/ota-server.service" 2>&1) || fail "systemd-analyze verify failed: ${verify_out}"
[[ -z "${verify_out}" ]] || fail "systemd-analyze verify complained: ${verify_out}"
for unit in ota-agentd ota-server; do
  score=$(systemd-analyze security --offline=yes --root="${root}" "${unit}.service" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [[ -n "${score}" ]] || fail "no exposure score for ${unit}.service"
  echo "${unit}.service: systemd-analyze security exposure ${score} (0 best, 10 worst)"
  awk -v s="${score}" 'BEGIN { exit !(s <= 2.0) }' || fail "${unit}.service exposure ${score} > 2.0"
done
