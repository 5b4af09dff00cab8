// The three commands of ota-tuf-client over the verifier's Updater, with the
// real environment (libcurl, POSIX files, the libc wall clock).
#ifndef OTA_TOOLS_TUF_CLIENT_CLIENT_H_
#define OTA_TOOLS_TUF_CLIENT_CLIENT_H_

#include <string>
#include <string_view>

#include "args.h"
#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::tuf_client {

// Copies ROOT_FILE into DIR as root.json (atomically, replacing an earlier
// one: init is the explicit act of choosing what to trust). Only its form is
// checked here (a metadata envelope whose _type is root); its signatures are
// checked by every refresh, which also follows the rotation chain. No network.
Status Init(Env& env, const Args& args);

// One run of the client workflow (verifier::Updater::Refresh).
Status Refresh(Env& env, const Args& args);

// Refresh, then each --target-name in order with the same Updater: look it
// up (delegations included), skip it when TDIR already holds a file with the
// signed length and hashes, else download at most the signed length to a
// hidden temp file in TDIR, verify length and every hash, and rename it into
// place. Stops at the first failure.
Status Download(Env& env, const Args& args);

// The file name of a target inside TDIR: the target path with every byte but
// A-Z a-z 0-9 - . _ ~ percent-encoded ('/' too, so folders flatten into one
// name), and a leading '.' encoded as well so "." and ".." stay plain files
// and no target shares a name with the hidden temp files.
std::string TargetFileName(std::string_view target_path);

}  // namespace ota::tuf_client

#endif  // OTA_TOOLS_TUF_CLIENT_CLIENT_H_
